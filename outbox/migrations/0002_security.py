"""Database security of the outbox and inbox: row-level security and least-privilege grants.

The app role may only INSERT and SELECT outbox rows (it cannot mark an event published or
delete one); the relay role (BYPASSRLS, the only cross-tenant reader) may read outbox rows,
update their delivery columns and prune them, and has no grant on any other table.
"""

from django.conf import settings
from django.db import migrations

from tenancy.rls import EnableRowLevelSecurity

OUTBOX = "outbox_outboxevent"
RELAY_UPDATE_COLUMNS = "status, attempts, scheduled_at, last_error, published_at"


def _roles(schema_editor):
    quote = schema_editor.quote_name
    return quote(settings.DB_APP_ROLE), quote(settings.DB_RELAY_ROLE)


def grant_forwards(apps, schema_editor):
    app, relay = _roles(schema_editor)
    for sql in (
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {OUTBOX} FROM {app}",
        f"GRANT SELECT, DELETE ON {OUTBOX} TO {relay}",
        f"GRANT UPDATE ({RELAY_UPDATE_COLUMNS}) ON {OUTBOX} TO {relay}",
    ):
        schema_editor.execute(sql)


def grant_backwards(apps, schema_editor):
    app, relay = _roles(schema_editor)
    for sql in (
        f"REVOKE ALL ON {OUTBOX} FROM {relay}",
        f"REVOKE UPDATE ({RELAY_UPDATE_COLUMNS}) ON {OUTBOX} FROM {relay}",
        f"GRANT UPDATE, DELETE ON {OUTBOX} TO {app}",
    ):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("outbox", "0001_initial")]

    operations = [
        EnableRowLevelSecurity("OutboxEvent"),
        EnableRowLevelSecurity("InboxMessage"),
        migrations.RunPython(grant_forwards, grant_backwards),
    ]

"""A counts-only view of the outbox and inbox backlog for `/metrics`, across tenants.

The web connects as the app role, which row-level security confines to one tenant, and must
not hold the relay's credentials. This SECURITY DEFINER function (owned by the owner role,
executable by the app role only) returns four numbers and nothing else: no tenant, no id, no
payload — so a scrape can read the backlog without seeing any tenant's data.
"""

from django.conf import settings
from django.db import migrations

FUNCTION = "outbox_event_backlog()"

CREATE = """
CREATE FUNCTION outbox_event_backlog()
RETURNS TABLE (outbox_pending bigint, outbox_lag_seconds double precision,
               outbox_dead bigint, inbox_dead bigint)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT (SELECT count(*) FROM outbox_outboxevent WHERE status = 'pending'),
           coalesce((SELECT extract(epoch FROM clock_timestamp() - min(created_at))::float8
                       FROM outbox_outboxevent WHERE status = 'pending'), 0),
           (SELECT count(*) FROM outbox_outboxevent WHERE status = 'dead'),
           (SELECT count(*) FROM outbox_inboxmessage WHERE status = 'dead')
$$
"""


def forwards(apps, schema_editor):
    app = schema_editor.quote_name(settings.DB_APP_ROLE)
    schema_editor.execute(CREATE)
    schema_editor.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    schema_editor.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO {app}")


def backwards(apps, schema_editor):
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")


class Migration(migrations.Migration):
    dependencies = [("outbox", "0003_outbox_traceparent")]

    operations = [migrations.RunPython(forwards, backwards)]

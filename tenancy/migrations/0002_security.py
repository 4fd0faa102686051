"""Database security of the kernel: extensions, role grants, RLS, append-only audit, and the
two definer functions authentication uses before a tenant is known."""

from django.conf import settings
from django.db import migrations

from tenancy.rls import EnableRowLevelSecurity


def _roles(schema_editor):
    quote = schema_editor.quote_name
    return quote(settings.DB_APP_ROLE), quote(settings.DB_RELAY_ROLE)


def grant_forwards(apps, schema_editor):
    app, relay = _roles(schema_editor)
    for sql in (
        f"GRANT USAGE ON SCHEMA public TO {app}, {relay}",
        # Tables created by later migrations (run by this owner role) get the same grants.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
        # The app may read which migrations ran (readiness) but never change that record.
        f"REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {app}",
        # Audit rows are append-only for the app.
        f"REVOKE UPDATE, DELETE, TRUNCATE ON tenancy_auditevent FROM {app}",
    ):
        schema_editor.execute(sql)


def grant_backwards(apps, schema_editor):
    app, relay = _roles(schema_editor)
    for sql in (
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {app}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {app}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {app}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {app}",
        f"REVOKE USAGE ON SCHEMA public FROM {app}, {relay}",
    ):
        schema_editor.execute(sql)


def functions_forwards(apps, schema_editor):
    app, _ = _roles(schema_editor)
    schema_editor.execute(
        """
        CREATE FUNCTION tenancy_api_key_lookup(p_prefix text)
        RETURNS TABLE (id uuid, tenant_id uuid, secret_hash text, role text, revoked boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.id, k.tenant_id, k.secret_hash::text, k.role::text,
                   (k.revoked_at IS NOT NULL OR NOT t.is_active)
              FROM tenancy_apikey k JOIN tenancy_tenant t ON t.id = k.tenant_id
             WHERE k.prefix = p_prefix
        $$
        """
    )
    schema_editor.execute(
        """
        CREATE FUNCTION tenancy_user_memberships(p_user_id integer)
        RETURNS TABLE (tenant_id uuid, role text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT m.tenant_id, m.role::text
              FROM tenancy_membership m JOIN tenancy_tenant t ON t.id = m.tenant_id
             WHERE m.user_id = p_user_id AND t.is_active
        $$
        """
    )
    for fn in ("tenancy_api_key_lookup(text)", "tenancy_user_memberships(integer)"):
        schema_editor.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        schema_editor.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {app}")


def functions_backwards(apps, schema_editor):
    schema_editor.execute("DROP FUNCTION IF EXISTS tenancy_api_key_lookup(text)")
    schema_editor.execute("DROP FUNCTION IF EXISTS tenancy_user_memberships(integer)")


AUDIT_GUARD_FORWARDS = """
CREATE FUNCTION tenancy_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER tenancy_auditevent_append_only
    BEFORE UPDATE OR DELETE ON tenancy_auditevent
    FOR EACH ROW EXECUTE FUNCTION tenancy_audit_append_only();
"""
AUDIT_GUARD_BACKWARDS = """
DROP TRIGGER IF EXISTS tenancy_auditevent_append_only ON tenancy_auditevent;
DROP FUNCTION IF EXISTS tenancy_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;",
            "DROP EXTENSION IF EXISTS fuzzystrmatch; DROP EXTENSION IF EXISTS pg_trgm;",
        ),
        migrations.RunPython(grant_forwards, grant_backwards),
        EnableRowLevelSecurity("Membership"),
        EnableRowLevelSecurity("ModuleEntitlement"),
        EnableRowLevelSecurity("ApiKey"),
        EnableRowLevelSecurity("AuditEvent"),
        migrations.RunSQL(AUDIT_GUARD_FORWARDS, AUDIT_GUARD_BACKWARDS),
        migrations.RunPython(functions_forwards, functions_backwards),
    ]

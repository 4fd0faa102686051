"""Authentication's key lookup also says when the key was last stamped as used.

`api_key_authenticate` refreshes `last_used_at` at most once a minute; knowing the stamp from
the lookup it already makes lets it skip the refresh (a transaction, set_config and an UPDATE)
on every other request. A new definer function beside `tenancy_api_key_lookup`, which the
previous release still calls (expand only).
"""

from django.conf import settings
from django.db import migrations

FUNCTION = "tenancy_api_key_credential(text)"


def forwards(apps, schema_editor):
    app = schema_editor.quote_name(settings.DB_APP_ROLE)
    schema_editor.execute(
        """
        CREATE FUNCTION tenancy_api_key_credential(p_prefix text)
        RETURNS TABLE (
            id uuid, tenant_id uuid, secret_hash text, role text, revoked boolean,
            last_used_at timestamptz
        )
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.id, k.tenant_id, k.secret_hash::text, k.role::text,
                   (k.revoked_at IS NOT NULL OR NOT t.is_active), k.last_used_at
              FROM tenancy_apikey k JOIN tenancy_tenant t ON t.id = k.tenant_id
             WHERE k.prefix = p_prefix
        $$
        """
    )
    schema_editor.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    schema_editor.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO {app}")


def backwards(apps, schema_editor):
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0003_audit_seal")]

    operations = [migrations.RunPython(forwards, backwards)]

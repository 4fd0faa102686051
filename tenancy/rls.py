"""Migration operations that put tables under PostgreSQL row-level security.

Used in every migration that creates a tenant-owned table. They are reversible, and they state
the policy once so that every table is isolated in exactly the same way.
"""

from typing import Any

from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

POLICY_NAME = "tenant_isolation"
TENANT_PREDICATE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


class EnableRowLevelSecurity(Operation):
    """ENABLE and FORCE RLS on a model's table with the tenant policy for USING and WITH CHECK.

    FORCE makes the policy apply to the table owner as well; only roles with BYPASSRLS (the
    migration owner and the outbox relay) see across tenants.
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__name__, [self.model_name], {})

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """RLS lives only in the database; the model state does not change."""

    def _table(self, app_label: str, state: ProjectState) -> str:
        model = state.apps.get_model(app_label, self.model_name)
        return str(model._meta.db_table)

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        table = schema_editor.quote_name(self._table(app_label, to_state))
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(
            f"CREATE POLICY {POLICY_NAME} ON {table} "
            f"USING ({TENANT_PREDICATE}) WITH CHECK ({TENANT_PREDICATE})"
        )

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        table = schema_editor.quote_name(self._table(app_label, from_state))
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    def describe(self) -> str:
        return f"Enable and force row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"rls_{self.model_name.lower()}"


_CATALOG_SQL = """
SELECT c.relname,
       c.relrowsecurity,
       c.relforcerowsecurity,
       p.polname IS NOT NULL AS has_policy,
       coalesce(pg_get_expr(p.polqual, p.polrelid), '') AS using_expr,
       coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') AS check_expr
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
  LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = %s
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
 ORDER BY c.relname
"""


def rls_gaps(cursor: Any) -> list[str]:
    """Every table with a `tenant_id` column whose isolation is incomplete, with the reason.

    Reads only the catalog, so any role can run it; the test suite fails on a non-empty answer.
    """
    cursor.execute(_CATALOG_SQL, [POLICY_NAME])
    gaps: list[str] = []
    for table, enabled, forced, has_policy, using_expr, check_expr in cursor.fetchall():
        if not enabled:
            gaps.append(f"{table}: row-level security is not enabled")
        if not forced:
            gaps.append(f"{table}: row-level security is not forced")
        if not has_policy:
            gaps.append(f"{table}: no {POLICY_NAME} policy")
            continue
        for kind, expr in (("USING", using_expr), ("WITH CHECK", check_expr)):
            if "current_setting('app.tenant_id'" not in expr or "tenant_id =" not in expr:
                gaps.append(f"{table}: the policy's {kind} does not compare tenant_id")
    return gaps


def rls_unsafe_views(cursor: Any) -> list[str]:
    """Views that run with their owner's rights (no security_invoker) and do not apply the
    tenant predicate themselves: the owner bypasses RLS, so such a view would leak tenants."""
    cursor.execute(
        "SELECT c.relname, pg_get_viewdef(c.oid), coalesce(c.reloptions, '{}') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'v' ORDER BY 1"
    )
    return [
        name
        for name, definition, options in cursor.fetchall()
        if "security_invoker=true" not in options
        and "current_setting('app.tenant_id'" not in definition
    ]

"""Every tenant-owned table is isolated, and a forgotten one is caught.

Like Sentry's "every model declares its silo": the catalog, not a list kept by hand, says which
tables carry `tenant_id`, so a new table without a policy fails here.
"""

import psycopg
import pytest
from django.db import connection

from tenancy.rls import rls_gaps, rls_unsafe_views


@pytest.mark.django_db
def test_every_tenant_table_has_rls_enabled_forced_and_a_policy():
    with connection.cursor() as cursor:
        assert rls_gaps(cursor) == []


def test_catalog_check_catches_a_disabled_policy(owner_connection: psycopg.Connection):
    """A throwaway change (rolled back) that weakens one table must make the check fail."""
    owner_connection.autocommit = False
    try:
        with owner_connection.cursor() as cursor:
            assert rls_gaps(cursor) == []
            cursor.execute("DROP POLICY tenant_isolation ON tenancy_apikey")
            cursor.execute("ALTER TABLE tenancy_membership NO FORCE ROW LEVEL SECURITY")
            cursor.execute("ALTER TABLE tenancy_auditevent DISABLE ROW LEVEL SECURITY")
            cursor.execute("CREATE TABLE forgotten (id int, tenant_id uuid)")
            gaps = rls_gaps(cursor)
    finally:
        owner_connection.rollback()
    assert "tenancy_apikey: no tenant_isolation policy" in gaps
    assert "tenancy_membership: row-level security is not forced" in gaps
    assert "tenancy_auditevent: row-level security is not enabled" in gaps
    assert "forgotten: row-level security is not enabled" in gaps


def test_catalog_check_catches_a_policy_that_does_not_compare_the_tenant(
    owner_connection: psycopg.Connection,
):
    owner_connection.autocommit = False
    try:
        with owner_connection.cursor() as cursor:
            cursor.execute("DROP POLICY tenant_isolation ON tenancy_apikey")
            cursor.execute("CREATE POLICY tenant_isolation ON tenancy_apikey USING (true)")
            gaps = rls_gaps(cursor)
    finally:
        owner_connection.rollback()
    assert "tenancy_apikey: the policy's USING does not compare tenant_id" in gaps
    assert "tenancy_apikey: the policy's WITH CHECK does not compare tenant_id" in gaps


def test_app_role_cannot_change_policies_or_own_tables(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname = 'public' AND tableowner = current_user"
        )
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_every_view_that_bypasses_rls_filters_by_tenant_itself():
    with connection.cursor() as cursor:
        assert rls_unsafe_views(cursor) == []


def test_view_check_catches_a_view_without_the_tenant_predicate(owner_connection):
    owner_connection.autocommit = False
    try:
        with owner_connection.cursor() as cursor:
            cursor.execute("CREATE VIEW leaky AS SELECT id, tenant_id FROM tenancy_apikey")
            cursor.execute(
                "CREATE VIEW invoker WITH (security_invoker = true) "
                "AS SELECT id FROM tenancy_apikey"
            )
            unsafe = rls_unsafe_views(cursor)
    finally:
        owner_connection.rollback()
    assert unsafe == ["leaky"]

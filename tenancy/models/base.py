"""The base of every tenant-owned table."""

from django.db import models


class TenantOwnedModel(models.Model):
    """A row that belongs to exactly one tenant; PostgreSQL RLS filters it by `tenant_id`.

    Every subclass's table must get `EnableRowLevelSecurity` in its migration; a catalog test
    fails for any table with a `tenant_id` column that lacks an enabled, forced policy.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True

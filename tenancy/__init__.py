"""Tenancy kernel: tenants, memberships, entitlements, audit, tenant context and RLS."""

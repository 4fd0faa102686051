"""Kernel models: who the tenants are, who may act in them, and what happened."""

from tenancy.models.audit import AuditEvent, AuditSeal
from tenancy.models.base import TenantOwnedModel
from tenancy.models.credentials import ApiKey
from tenancy.models.idempotency import IdempotentRequest
from tenancy.models.tenant import Membership, ModuleEntitlement, Role, Tenant

__all__ = [
    "ApiKey",
    "AuditEvent",
    "AuditSeal",
    "IdempotentRequest",
    "Membership",
    "ModuleEntitlement",
    "Role",
    "Tenant",
    "TenantOwnedModel",
]

"""Issuing, revoking and checking integrators' API keys."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from tenancy.db import current_tenant_id, tenant_scope
from tenancy.errors import FieldError, NotFoundError, ValidationFailedError
from tenancy.models import ApiKey, Role
from tenancy.principal import Principal
from tenancy.selectors.access import api_key_credential_get
from tenancy.services.audit import audit_record

KEY_SCHEME = "rsk"
_PREFIX_BYTES = 6
_SECRET_BYTES = 32
# Stamping `last_used_at` on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A freshly created key: the only moment its plaintext exists."""

    api_key: ApiKey
    token: str


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *, actor: Principal | None, name: str, role: Role | str = Role.INTEGRATOR
) -> IssuedApiKey:
    """Issue a key for the current tenant; the token is returned once and never stored."""
    name = name.strip()
    errors = []
    if not name or len(name) > 100:
        errors.append(FieldError("name", "invalid", "A name of 1 to 100 characters is required."))
    if str(role) not in Role.values:
        errors.append(
            FieldError(
                "role", "invalid_choice", f"Unknown role; use one of {', '.join(Role.values)}."
            )
        )
    if errors:
        raise ValidationFailedError("The API key could not be created.", errors=errors)
    prefix = secrets.token_hex(_PREFIX_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            tenant_id=current_tenant_id(),
            name=name,
            prefix=prefix,
            secret_hash=_hash_secret(secret),
            role=str(role),
            created_by_id=actor.user_id if actor else None,
        )
        audit_record(
            actor=actor, action="api_key.created", object_type="api_key", object_id=str(api_key.id)
        )
    return IssuedApiKey(api_key=api_key, token=f"{KEY_SCHEME}_{prefix}_{secret}")


def api_key_revoke(*, actor: Principal | None, api_key_id: UUID) -> ApiKey:
    """Revoke a key of the current tenant; it stops working on the next request."""
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().filter(id=api_key_id).first()
        if api_key is None:
            raise NotFoundError("No such API key.")
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            audit_record(
                actor=actor,
                action="api_key.revoked",
                object_type="api_key",
                object_id=str(api_key.id),
            )
    return api_key


def api_key_authenticate(*, token: str) -> Principal | None:
    """The principal a presented token stands for, or None when it is unknown or revoked.

    The comparison is constant-time; a valid key's last-used stamp is refreshed at most once a
    minute, inside that key's own tenant scope. The lookup returns the stamp, so a key used
    within the last minute costs one query and no write.
    """
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME:
        return None
    _, prefix, secret = parts
    credential = api_key_credential_get(prefix=prefix)
    if credential is None or credential.revoked:
        return None
    if not hmac.compare_digest(credential.secret_hash, _hash_secret(secret)):
        return None
    now = timezone.now()
    if credential.last_used_at is None or credential.last_used_at <= now - LAST_USED_RESOLUTION:
        # Stale as read: refresh it, unless a concurrent request of the same key just did.
        with tenant_scope(credential.tenant_id):
            ApiKey.objects.filter(id=credential.id).exclude(
                last_used_at__gt=now - LAST_USED_RESOLUTION
            ).update(last_used_at=now)
    return Principal(
        tenant_id=credential.tenant_id, roles=frozenset({credential.role}), api_key_id=credential.id
    )

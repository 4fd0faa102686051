"""AES-256-GCM envelope encryption of portraits.

A fresh 256-bit data key encrypts each portrait; a key-encryption key (KEK) from the settings
(the secret manager's, never the database's) wraps the data key. Both ciphertexts carry
associated data naming the tenant and the patient, the wrapped key also the KEK's id: a
portrait copied to another patient's row, or relabelled with another key id, does not decrypt
(GCM's tag fails) — it raises PortraitIntegrityError, it never shows a wrong image.
"""

import os
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from tenancy.errors import DomainError

NONCE_BYTES = 12
_FORMAT = "regsvc-portrait:v1"


class PortraitIntegrityError(DomainError):
    """A stored portrait failed authentication: tampered, moved, or its key is missing."""

    code = "portrait-integrity"
    title = "Portrait cannot be decrypted"
    status = 500


class PortraitKeyUnavailableError(DomainError):
    """No key-encryption key is configured (or not the one asked for)."""

    code = "portrait-key-unavailable"
    title = "Portrait key unavailable"
    status = 503


@dataclass(frozen=True, slots=True)
class SealedPortrait:
    """What is stored: the KEK's id, the wrapped data key, the nonce and the ciphertext."""

    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def _binding(tenant_id: UUID, patient_id: UUID) -> bytes:
    return f"{_FORMAT}:tenant={tenant_id}:patient={patient_id}".encode()


def _wrap_binding(key_id: str, tenant_id: UUID, patient_id: UUID) -> bytes:
    return f"{_FORMAT}:kek={key_id}:tenant={tenant_id}:patient={patient_id}".encode()


def _kek(key_id: str) -> AESGCM:
    keys: dict[str, bytes] = settings.PORTRAIT_KEYS
    key = keys.get(key_id)
    if key is None:
        raise PortraitKeyUnavailableError("The portrait key is not configured.")
    return AESGCM(key)


def active_key_id() -> str:
    """The KEK new portraits are wrapped with."""
    key_id: str = settings.PORTRAIT_ACTIVE_KEY_ID
    if not key_id:
        raise PortraitKeyUnavailableError("No portrait key is configured.")
    return key_id


def _wrap(data_key: bytes, key_id: str, tenant_id: UUID, patient_id: UUID) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _kek(key_id).encrypt(
        nonce, data_key, _wrap_binding(key_id, tenant_id, patient_id)
    )


def _unwrap(sealed: SealedPortrait, tenant_id: UUID, patient_id: UUID) -> bytes:
    nonce, body = sealed.wrapped_key[:NONCE_BYTES], sealed.wrapped_key[NONCE_BYTES:]
    try:
        return _kek(sealed.key_id).decrypt(
            nonce, body, _wrap_binding(sealed.key_id, tenant_id, patient_id)
        )
    except InvalidTag as exc:
        raise PortraitIntegrityError("The portrait's data key failed authentication.") from exc


def seal(image: bytes, *, tenant_id: UUID, patient_id: UUID) -> SealedPortrait:
    """Encrypt under a fresh data key, wrapped by the active KEK."""
    key_id = active_key_id()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, image, _binding(tenant_id, patient_id))
    return SealedPortrait(
        key_id=key_id,
        wrapped_key=_wrap(data_key, key_id, tenant_id, patient_id),
        nonce=nonce,
        ciphertext=ciphertext,
    )


def unseal(sealed: SealedPortrait, *, tenant_id: UUID, patient_id: UUID) -> bytes:
    """Decrypt, or raise PortraitIntegrityError (never returns bytes that failed the tag)."""
    data_key = _unwrap(sealed, tenant_id, patient_id)
    try:
        return AESGCM(data_key).decrypt(
            sealed.nonce, sealed.ciphertext, _binding(tenant_id, patient_id)
        )
    except InvalidTag as exc:
        raise PortraitIntegrityError("The portrait failed authentication.") from exc


def rewrap(
    sealed: SealedPortrait, *, to_key_id: str, tenant_id: UUID, patient_id: UUID
) -> SealedPortrait:
    """The same ciphertext with its data key wrapped by another KEK (key rotation)."""
    data_key = _unwrap(sealed, tenant_id, patient_id)
    return SealedPortrait(
        key_id=to_key_id,
        wrapped_key=_wrap(data_key, to_key_id, tenant_id, patient_id),
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
    )

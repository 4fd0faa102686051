"""The project's one error hierarchy.

Services raise these; the REST layer renders them as RFC 9457 problem+json and the FHIR layer
as OperationOutcome. `detail` must never carry PHI: it is logged and returned to callers.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field: where, what rule, and a message safe to show."""

    field: str
    code: str
    message: str


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    code = "domain-error"
    title = "The request could not be completed"
    status = 400

    def __init__(self, detail: str = "", *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []

    def extensions(self) -> dict[str, object]:
        """Extra members of the problem document (RFC 9457 extension members)."""
        return {}


class ValidationFailedError(DomainError):
    """Well-formed input broke a domain rule; `errors` says which field and why.

    422, not 400: the request matched the API schema (which 400 reports) but the record it
    describes is impossible (a birth date in the future, a wrong check digit, …).
    """

    code = "validation-error"
    title = "Invalid input"
    status = 422


class IdempotencyKeyReusedError(DomainError):
    """An `Idempotency-Key` came back with a different request than the one it first carried.

    Replaying the first response would answer a request the client did not send, and running
    the new one would break the key's promise; so neither (the IETF Idempotency-Key draft's
    422).
    """

    code = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"
    status = 422


class NotFoundError(DomainError):
    """The object does not exist, or exists in another tenant (never say which)."""

    code = "not-found"
    title = "Not found"
    status = 404


class PermissionDeniedError(DomainError):
    """The caller is known but their role does not allow this action."""

    code = "forbidden"
    title = "Forbidden"
    status = 403


class ModuleNotLicensedError(PermissionDeniedError):
    """The caller's tenant has not licensed the module this endpoint or task belongs to.

    REST renders it as problem+json with `module` as an extension member; FHIR as an
    OperationOutcome with code `forbidden` (read `module`).
    """

    code = "module-not-licensed"
    title = "Module not licensed"

    def __init__(self, module: str) -> None:
        super().__init__(f"This tenant has not licensed the module '{module}'.")
        self.module = module

    def extensions(self) -> dict[str, object]:
        """The module that is missing, for callers and the FHIR layer."""
        return {"module": self.module}


class ConflictError(DomainError):
    """The request conflicts with the current state (e.g. a duplicate)."""

    code = "conflict"
    title = "Conflict"
    status = 409


class PreconditionFailedError(DomainError):
    """The caller's version of the object is stale (If-Match did not match)."""

    code = "precondition-failed"
    title = "Precondition failed"
    status = 412


class PreconditionRequiredError(DomainError):
    """A change to a versioned object was sent without If-Match."""

    code = "precondition-required"
    title = "Precondition required"
    status = 428


class TenantContextError(DomainError):
    """Code ran without (or with a conflicting) tenant context: a programming error."""

    code = "tenant-context"
    title = "Tenant context error"
    status = 500

"""May this caller see this patient's demographics? The one answer every read path uses.

Portrait, FHIR and MPI read paths call the same functions:

- `patient_access(principal, patient)` says whether `principal` may open `patient` and through
  which grant (normal patients: always; restricted ones: an unexpired care-team grant, or an
  unexpired break-glass grant while the tenant licenses `break_glass`).
- `require_patient_access(principal, patient)` raises RestrictedPatientError (403, with the
  `break_glass_available` hint) when not; log the access with the returned grant id.
- `patients_access(principal, patients)` answers for a page of search results in one query,
  so results of restricted patients can be shown masked.

Expiry is compared with the database clock at every call: an expired grant stops working at
once (nothing caches an answer beyond the query).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.functions import Now

from registration.models import Confidentiality, GrantKind, Patient, PatientAccessGrant
from tenancy.errors import NotFoundError, PermissionDeniedError
from tenancy.modules import BREAK_GLASS
from tenancy.principal import Principal
from tenancy.selectors.entitlements import module_entitled


@dataclass(frozen=True, slots=True)
class PatientAccess:
    """The answer for one patient: allowed or not, and the grant that allows it (if any)."""

    allowed: bool
    grant_id: UUID | None = None
    break_glass: bool = False

    def audit_details(self) -> dict[str, object]:
        """What an access-log row records about how the access was allowed."""
        if self.grant_id is None:
            return {}
        return {"grant_id": str(self.grant_id), "break_glass": self.break_glass}


OPEN = PatientAccess(allowed=True)
DENIED = PatientAccess(allowed=False)


class RestrictedPatientError(PermissionDeniedError):
    """The patient is restricted and the caller holds no grant: 403, never the record."""

    code = "restricted-patient"
    title = "Restricted patient"

    def __init__(self, *, break_glass_available: bool) -> None:
        super().__init__(
            "This patient's record is restricted to its care team."
            + (" Break-glass access is available." if break_glass_available else "")
        )
        self.break_glass_available = break_glass_available

    def extensions(self) -> dict[str, object]:
        """`break_glass_available`: whether POST …/break-glass with a reason would open it."""
        return {"break_glass_available": self.break_glass_available}


def _active_grants(principal: Principal) -> QuerySet[PatientAccessGrant]:
    """The caller's unexpired, unrevoked grants (break-glass ones only while licensed)."""
    grants = PatientAccessGrant.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=Now()), revoked_at__isnull=True
    )
    if principal.user_id is not None:
        grants = grants.filter(grantee_user_id=principal.user_id)
    elif principal.api_key_id is not None:
        grants = grants.filter(grantee_api_key_id=principal.api_key_id)
    else:
        return grants.none()
    if not module_entitled(BREAK_GLASS):
        grants = grants.exclude(kind=GrantKind.BREAK_GLASS)
    # Prefer a care-team grant over break-glass, then the one lasting longest.
    return grants.order_by("kind", "-expires_at")


def patients_access(
    principal: Principal | None, patients: Iterable[Patient]
) -> dict[UUID, PatientAccess]:
    """The access answer for each patient (one query, only when some are restricted)."""
    answers: dict[UUID, PatientAccess] = {}
    restricted: list[UUID] = []
    for patient in patients:
        if patient.confidentiality == Confidentiality.RESTRICTED:
            restricted.append(patient.id)
            answers[patient.id] = DENIED
        else:
            answers[patient.id] = OPEN
    if restricted and principal is not None:
        for grant in _active_grants(principal).filter(patient_id__in=restricted):
            if answers[grant.patient_id].allowed:
                continue
            answers[grant.patient_id] = PatientAccess(
                allowed=True,
                grant_id=grant.id,
                break_glass=grant.kind == GrantKind.BREAK_GLASS,
            )
    return answers


def patients_access_by_ids(
    principal: Principal | None, patient_ids: Iterable[UUID]
) -> dict[UUID, PatientAccess]:
    """`patients_access` for callers holding only ids (match candidates, review pairs, linked
    records): two small queries. An id that names no visible patient is answered DENIED."""
    ids = list(dict.fromkeys(patient_ids))
    patients = Patient.objects.filter(id__in=ids).only("id", "confidentiality")
    answers = patients_access(principal, patients)
    return {patient_id: answers.get(patient_id, DENIED) for patient_id in ids}


def require_patients_access_by_ids(
    principal: Principal | None, patient_ids: Iterable[UUID]
) -> dict[UUID, PatientAccess]:
    """Every one of these patients may be opened (a merge pair, a review pair), or
    RestrictedPatientError. Ids naming no visible patient are left to the caller's own 404."""
    ids = list(dict.fromkeys(patient_ids))
    patients = Patient.objects.filter(id__in=ids).only("id", "confidentiality")
    answers = patients_access(principal, patients)
    if not all(answer.allowed for answer in answers.values()):
        raise RestrictedPatientError(break_glass_available=module_entitled(BREAK_GLASS))
    return answers


def patient_access(principal: Principal | None, patient: Patient) -> PatientAccess:
    """Whether `principal` may open `patient`, and through which grant."""
    return patients_access(principal, [patient])[patient.id]


def require_patient_access(principal: Principal | None, patient: Patient) -> PatientAccess:
    """The access answer, or RestrictedPatientError (403 with the break-glass hint)."""
    access = patient_access(principal, patient)
    if not access.allowed:
        raise RestrictedPatientError(break_glass_available=module_entitled(BREAK_GLASS))
    return access


def require_patient_access_by_id(principal: Principal | None, patient_id: UUID) -> PatientAccess:
    """`require_patient_access` for a write path that has only the id (404 when missing)."""
    patient = Patient.objects.filter(id=patient_id).only("id", "confidentiality").first()
    if patient is None:
        raise NotFoundError("No such patient.")
    return require_patient_access(principal, patient)


def candidate_summary_for(patient: Patient, summary: dict[str, Any]) -> dict[str, Any]:
    """A duplicate candidate's summary as shown while registering: a restricted patient keeps
    its id, match reasons and score (so the front desk does not register them twice) but not
    its name, birth date or gender; `restricted: true` says why."""
    if patient.confidentiality != Confidentiality.RESTRICTED:
        return summary
    return {
        **summary,
        "family": "",
        "given": [],
        "birth_date": None,
        "gender": "unknown",
        "restricted": True,
    }


def break_glass_grants(*, review: str = "pending") -> QuerySet[PatientAccessGrant]:
    """Break-glass grants for the review queue: `pending`, `reviewed` or `all`, newest first."""
    grants = PatientAccessGrant.objects.filter(kind=GrantKind.BREAK_GLASS).order_by(
        "-granted_at", "id"
    )
    if review == "pending":
        grants = grants.filter(review_decision="")
    elif review == "reviewed":
        grants = grants.exclude(review_decision="")
    return grants


def break_glass_grant_get(*, grant_id: UUID) -> PatientAccessGrant:
    """One break-glass grant of the current tenant, or NotFoundError."""
    grant = PatientAccessGrant.objects.filter(id=grant_id, kind=GrantKind.BREAK_GLASS).first()
    if grant is None:
        raise NotFoundError("No such break-glass grant.")
    return grant


def _active() -> Q:
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=Now()))


def active_care_team_grant_exists(*, patient_id: UUID, user_id: int) -> bool:
    """Whether the user already holds a working care-team grant for the patient."""
    return PatientAccessGrant.objects.filter(
        _active(), patient_id=patient_id, grantee_user_id=user_id, kind=GrantKind.CARE_TEAM
    ).exists()


def patient_access_grants(
    *, patient_id: UUID, state: str = "active"
) -> QuerySet[PatientAccessGrant]:
    """A patient's grants (care team and break-glass), newest first, each annotated `active`
    (unrevoked and unexpired by the database clock); `state` is `active` or `all`.
    NotFoundError when the patient is not the current tenant's."""
    if not Patient.objects.filter(id=patient_id).exists():
        raise NotFoundError("No such patient.")
    grants = (
        PatientAccessGrant.objects.filter(patient_id=patient_id)
        .select_related("grantee_user")
        .annotate(active=ExpressionWrapper(_active(), output_field=BooleanField()))
        .order_by("-granted_at", "id")
    )
    if state == "active":
        grants = grants.filter(active=True)
    return grants


def patient_access_grant_get(*, patient_id: UUID, grant_id: UUID) -> PatientAccessGrant:
    """One grant of one patient (annotated `active`), or NotFoundError."""
    grant = patient_access_grants(patient_id=patient_id, state="all").filter(id=grant_id).first()
    if grant is None:
        raise NotFoundError("No such grant.")
    return grant

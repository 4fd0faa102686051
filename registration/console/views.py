"""The console pages of patients: search, register (with a live duplicate check), the patient
page with its history, edit and deactivate, and a restricted patient's care team.

PatientAdmin authorizes and routes here. These pages parse, call a selector or a service, log
every patient shown (HIPAA-style access log) and render; every write is a service call, and a
service's refusal is shown next to the inputs it names with nothing saved.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.db.models.options import Options
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.template.response import TemplateResponse
from django.urls import reverse

from registration.console.display import (
    candidate_view,
    grant_row,
    history_rows,
    masked_row,
    patient_row,
    patient_title,
)
from registration.console.forms import (
    BreakGlassForm,
    CareTeamGrantForm,
    DeactivateForm,
    OverrideForm,
    PatientFormGroup,
    PortraitForm,
    SearchForm,
    VersionForm,
)
from registration.console.vital_status import vital_status_page
from registration.models import Confidentiality, IdentifierDomain, Patient
from registration.selectors.access import (
    patient_access,
    patient_access_grants,
    patients_access,
)
from registration.selectors.domains import identifier_domains
from registration.selectors.history import patient_history
from registration.selectors.lookups import duplicate_candidate_summaries
from registration.selectors.patients import patient_get, patient_search
from registration.selectors.portraits import portrait_exists, portrait_get
from registration.selectors.vital_status import vital_status_history
from registration.services.access import (
    GRANT_MANAGER_ROLES,
    access_grant_revoke,
    break_glass_open,
    care_team_grant,
)
from registration.services.patients import (
    DeceasedDuplicateError,
    DuplicateSuspectedError,
    PatientInactiveError,
    patient_access_log,
    patient_deactivate,
    patient_input_of,
    patient_register,
    patient_update,
)
from registration.services.portraits import portrait_remove, portrait_replace
from tenancy.admin_base import request_principal
from tenancy.errors import DomainError, NotFoundError, PreconditionFailedError
from tenancy.modules import BREAK_GLASS
from tenancy.selectors.entitlements import module_entitled
from tenancy.selectors.members import tenant_member_names

PAGE_SIZE = 25
STALE_MESSAGE = (
    "This patient was changed by someone else after you opened this page, so nothing was saved. "
    "Reload the patient to see the current record, then make your change again."
)
INACTIVE_MESSAGE = "This patient is inactive; the record can no longer be changed."
DUPLICATE_MESSAGE = (
    "This person may already be registered: check the patients listed above. Open the existing "
    "record instead, or give a reason to register anyway."
)
DECEASED_DUPLICATE_MESSAGE = (
    "A patient listed above is recorded as deceased. A data steward must review before this "
    "person is registered: if it is the same person and they are alive, the steward refutes the "
    "death on the existing record (use that record); if it is somebody else, a data steward "
    "registers them, giving the reason."
)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) < 10_000 else 1


def _domain_choices() -> list[IdentifierDomain]:
    """The tenant's identifier domains by name, offered when typing an identifier's system."""
    return sorted(identifier_domains().values(), key=lambda domain: (domain.name, domain.system))


class PatientConsole:
    """The patient pages of one admin site; PatientAdmin routes its URLs to these methods."""

    def __init__(self, *, admin_site: AdminSite, opts: Options[Patient]) -> None:
        self.admin_site = admin_site
        self.opts = opts

    def url(self, page: str, *args: object) -> str:
        """The admin URL of one of the patient pages (`changelist`, `change`, `edit`, …)."""
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{page}",
            args=args,
        )

    def _render(
        self, request: HttpRequest, template: str, title: str, context: dict[str, Any]
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/registration/patient/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                "changelist_url": self.url("changelist"),
                **context,
            },
        )

    def _patient_or_404(self, patient_id: UUID) -> Patient:
        try:
            return patient_get(patient_id=patient_id)
        except NotFoundError as exc:
            raise Http404 from exc

    def search(self, request: HttpRequest, *, can_change: bool) -> HttpResponse:
        """The landing page: search by name, birth date, identifier or phone."""
        form = SearchForm(request.GET or None)
        criteria = form.criteria() if form.is_bound else None
        page = _page_number(request.GET.get("page"))
        patients: list[Patient] = []
        if criteria is not None:
            offset = (page - 1) * PAGE_SIZE
            patients = list(patient_search(criteria)[offset : offset + PAGE_SIZE + 1])
        has_next = len(patients) > PAGE_SIZE
        patients = patients[:PAGE_SIZE]
        principal = request_principal(request)
        access = patients_access(principal, patients)
        patient_access_log(
            actor=principal,
            patient_ids=[p.id for p in patients],
            action="patient.searched",
            details={p.id: access[p.id].audit_details() for p in patients},
        )
        query = request.GET.copy()
        query.pop("page", None)
        return self._render(
            request,
            "search.html",
            "Find a patient",
            {
                "form": form,
                "searched": criteria is not None,
                "rows": [
                    patient_row(p) if access[p.id].allowed else masked_row(p) for p in patients
                ],
                "page": page,
                "previous_query": f"{query.urlencode()}&page={page - 1}" if page > 1 else "",
                "next_query": f"{query.urlencode()}&page={page + 1}" if has_next else "",
                "can_change": can_change,
                "add_url": self.url("add"),
            },
        )

    def register(self, request: HttpRequest) -> HttpResponse:
        """A new patient: refused while it looks like an existing one, unless a reason is given."""
        candidates: list[dict[str, Any]] = []
        if request.method != "POST":
            group = PatientFormGroup()
            override = OverrideForm(prefix="duplicate_override")
        else:
            group = PatientFormGroup(request.POST)
            override = OverrideForm(request.POST, prefix="duplicate_override")
            if group.is_valid() and override.is_valid():
                try:
                    patient = patient_register(
                        actor=request_principal(request),
                        data=group.to_input(),
                        duplicate_override_reason=override.reason_or_none(),
                    )
                except DuplicateSuspectedError as exc:
                    # The service has logged that these candidates were shown.
                    deceased = (
                        {str(d) for d in exc.deceased_ids}
                        if isinstance(exc, DeceasedDuplicateError)
                        else set()
                    )
                    candidates = [
                        {
                            **candidate_view(c, self.url("change", c["patient_id"])),
                            "deceased": c["patient_id"] in deceased,
                        }
                        for c in exc.candidates
                    ]
                    override.add_error(
                        "reason", DECEASED_DUPLICATE_MESSAGE if deceased else DUPLICATE_MESSAGE
                    )
                except DomainError as exc:
                    self._show_refusal(
                        group, exc, routes={"duplicate_override.reason": (override, "reason")}
                    )
                else:
                    messages.success(request, "Patient registered.")
                    return HttpResponseRedirect(self.url("change", patient.id))
        return self._render(
            request,
            "register.html",
            "Register a patient",
            {
                "group": group,
                "override": override,
                "candidates": candidates,
                "editing": False,
                "domains": _domain_choices(),
                "duplicates_url": self.url("duplicates"),
            },
        )

    def duplicates(self, request: HttpRequest) -> JsonResponse:
        """The live check: likely duplicates of a half-filled registration form, as JSON."""
        group = PatientFormGroup(request.POST)
        group.is_valid()  # boxes that do not parse yet count as empty
        data = group.to_input()
        summaries = duplicate_candidate_summaries(data) if data.names or data.identifiers else []
        patient_access_log(
            actor=request_principal(request),
            patient_ids=[UUID(s["patient_id"]) for s in summaries],
            action="patient.duplicate_shown",
        )
        return JsonResponse(
            {
                "candidates": [
                    candidate_view(s, self.url("change", s["patient_id"])) for s in summaries
                ]
            }
        )

    def detail(self, request: HttpRequest, patient_id: UUID, *, can_change: bool) -> HttpResponse:
        """The patient page: the whole record, retired identifiers included, and its history."""
        patient = self._patient_or_404(patient_id)
        access = patient_access(request_principal(request), patient)
        if not access.allowed:
            return self.restricted(request, patient)
        patient_access_log(
            actor=request_principal(request),
            patient_ids=[patient.id],
            details={patient.id: access.audit_details()},
        )
        identifiers = sorted(patient.identifiers.all(), key=lambda i: (i.retired_at is not None,))
        return self._render(
            request,
            "detail.html",
            patient_title(patient),
            {
                "patient": patient,
                "identifiers": identifiers,
                "history": history_rows(patient_history(patient_id=patient.id)),
                "access": access,
                "can_change": can_change and patient.active,
                "edit_url": self.url("edit", patient.id),
                "deactivate_url": self.url("deactivate", patient.id),
                "vital_status_url": self.url("vital_status", patient.id),
                "has_portrait": portrait_exists(patient_id=patient.id),
                "portrait_url": self.url("portrait", patient.id),
                "portrait_change_url": self.url("portrait_change", patient.id),
                "vital_status_history": vital_status_history(patient_id=patient.id),
                **(
                    self.care_team_context(request, patient.id)
                    if patient.confidentiality == Confidentiality.RESTRICTED
                    else {}
                ),
            },
        )

    def portrait(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """The portrait image (decrypted on the fly, never cached by the browser)."""
        patient = self._patient_or_404(patient_id)
        access = patient_access(request_principal(request), patient)
        if not access.allowed:
            return self.restricted(request, patient)
        try:
            image = portrait_get(patient_id=patient_id)
        except NotFoundError as exc:
            raise Http404 from exc
        patient_access_log(
            actor=request_principal(request),
            patient_ids=[patient_id],
            action="patient.portrait_read",
            details={patient_id: access.audit_details()},
        )
        response = HttpResponse(image.data, content_type=image.content_type)
        response["Cache-Control"] = "no-store"
        return response

    def portrait_change(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Store the uploaded file as the portrait, or remove it; refusals change nothing."""
        patient = self._patient_or_404(patient_id)
        if not patient_access(request_principal(request), patient).allowed:
            return self.restricted(request, patient)
        detail_url = self.url("change", patient.id) + "#portrait"
        form = PortraitForm(request.POST, request.FILES)
        if not form.is_valid():
            messages.error(request, "Choose an image file (JPEG, PNG or WebP).")
            return HttpResponseRedirect(detail_url)
        try:
            if form.cleaned_data["remove"]:
                portrait_remove(
                    actor=request_principal(request),
                    patient_id=patient.id,
                    expected_version=form.cleaned_data["version"],
                )
            else:
                portrait_replace(
                    actor=request_principal(request),
                    patient_id=patient.id,
                    expected_version=form.cleaned_data["version"],
                    image=form.upload_bytes(settings.PORTRAIT_MAX_UPLOAD_BYTES),
                )
        except DomainError as exc:
            messages.error(request, self._refusal_message(exc))
        else:
            messages.success(request, "Portrait saved.")
        return HttpResponseRedirect(detail_url)

    def vital_status(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """The vital-status page of one patient (see registration.console.vital_status)."""
        patient = self._patient_or_404(patient_id)
        access = patient_access(request_principal(request), patient)
        if not access.allowed:
            return self.restricted(request, patient)
        return vital_status_page(
            request,
            patient.id,
            access_details=access.audit_details(),
            context={
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Vital status",
                "changelist_url": self.url("changelist"),
                "patient": patient,
            },
            detail_url=self.url("change", patient.id),
        )

    def edit(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Change the record; saved only if nobody changed it since the form was opened."""
        patient = self._patient_or_404(patient_id)
        access = patient_access(request_principal(request), patient)
        if not access.allowed:
            return self.restricted(request, patient)
        detail_url = self.url("change", patient.id)
        if not patient.active:
            messages.error(request, INACTIVE_MESSAGE)
            return HttpResponseRedirect(detail_url)
        if request.method != "POST":
            patient_access_log(
                actor=request_principal(request),
                patient_ids=[patient.id],
                details={patient.id: access.audit_details()},
            )
            group = PatientFormGroup(record=patient_input_of(patient))
            version = VersionForm(initial={"version": patient.version})
        else:
            group = PatientFormGroup(request.POST, editing=True)
            version = VersionForm(request.POST)
            if not version.is_valid():
                group.errors.append("The page is incomplete; reload the patient and try again.")
            elif group.is_valid():
                try:
                    patient_update(
                        actor=request_principal(request),
                        patient_id=patient.id,
                        expected_version=version.cleaned_data["version"],
                        data=group.to_input(),
                    )
                except DomainError as exc:
                    self._show_refusal(group, exc)
                else:
                    messages.success(request, "Patient updated.")
                    return HttpResponseRedirect(detail_url)
        return self._render(
            request,
            "register.html",
            "Edit patient",
            {
                "group": group,
                "version": version,
                "editing": True,
                "domains": _domain_choices(),
                "detail_url": detail_url,
            },
        )

    def deactivate(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Deactivate the record (never deleted), with a reason."""
        patient = self._patient_or_404(patient_id)
        if not patient_access(request_principal(request), patient).allowed:
            return self.restricted(request, patient)
        detail_url = self.url("change", patient.id)
        if not patient.active:
            messages.error(request, INACTIVE_MESSAGE)
            return HttpResponseRedirect(detail_url)
        errors: list[str] = []
        if request.method != "POST":
            form = DeactivateForm(initial={"version": patient.version})
        else:
            form = DeactivateForm(request.POST)
            if form.is_valid():
                try:
                    patient_deactivate(
                        actor=request_principal(request),
                        patient_id=patient.id,
                        expected_version=form.cleaned_data["version"],
                        reason=form.cleaned_data["reason"],
                    )
                except DomainError as exc:
                    errors.append(self._refusal_message(exc))
                    for error in exc.errors:
                        form.add_error("reason" if error.field == "reason" else None, error.message)
                else:
                    messages.success(request, "Patient deactivated.")
                    return HttpResponseRedirect(detail_url)
        return self._render(
            request,
            "deactivate.html",
            "Deactivate patient",
            {"form": form, "errors": errors, "patient_id": patient.id, "detail_url": detail_url},
        )

    def restricted(
        self, request: HttpRequest, patient: Patient, form: BreakGlassForm | None = None
    ) -> HttpResponse:
        """403: the record is restricted; offer break-glass when the tenant licenses it."""
        response = self._render(
            request,
            "restricted.html",
            "Restricted record",
            {
                "patient_id": patient.id,
                "break_glass_available": module_entitled(BREAK_GLASS),
                "form": form or BreakGlassForm(),
                "break_glass_url": self.url("break_glass", patient.id),
                **self.care_team_context(request, patient.id),
            },
        )
        response.status_code = 403
        return response

    def break_glass(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Open a restricted record with a stated reason (time-boxed, audited, reviewed)."""
        patient = self._patient_or_404(patient_id)
        detail_url = self.url("change", patient.id)
        principal = request_principal(request)
        if patient_access(principal, patient).allowed:
            return HttpResponseRedirect(detail_url)
        form = BreakGlassForm(request.POST)
        if form.is_valid() and principal is not None:
            try:
                break_glass_open(
                    actor=principal,
                    patient_id=patient.id,
                    reason_category=form.cleaned_data["reason_category"],
                    reason_text=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                form.add_error(None, self._refusal_message(exc))
                for error in exc.errors:
                    form.add_error(
                        error.field if error.field in form.fields else None, error.message
                    )
            else:
                messages.warning(
                    request,
                    "Break-glass access granted for a limited time. This access is audited and "
                    "will be reviewed.",
                )
                return HttpResponseRedirect(detail_url)
        return self.restricted(request, patient, form)

    def care_team_context(
        self, request: HttpRequest, patient_id: UUID, form: CareTeamGrantForm | None = None
    ) -> dict[str, Any]:
        """The care-team panel (grants working now, add, revoke), for the roles that manage
        grants only; it shows no demographics, so a manager need not open the record."""
        principal = request_principal(request)
        if principal is None or not principal.has_any_role(*GRANT_MANAGER_ROLES):
            return {"can_manage_grants": False}
        members = tenant_member_names()
        return {
            "can_manage_grants": True,
            "grants": [
                grant_row(grant, members) for grant in patient_access_grants(patient_id=patient_id)
            ],
            "grant_form": form
            or CareTeamGrantForm(members=members, initial={"next": request.get_full_path()}),
            "grant_add_url": self.url("care_team", patient_id),
        }

    def _care_team_next(self, patient_id: UUID, requested: str) -> str:
        """Back to the page the panel was on (the patient page or the care-team page)."""
        pages = (self.url("change", patient_id), self.url("care_team", patient_id))
        return requested if requested in pages else pages[1]

    def care_team(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """A patient's care team: list the working grants, add a member (POST)."""
        patient = self._patient_or_404(patient_id)
        form: CareTeamGrantForm | None = None
        if request.method == "POST":
            form = CareTeamGrantForm(request.POST, members=tenant_member_names())
            if form.is_valid():
                try:
                    care_team_grant(
                        actor=request_principal(request),
                        patient_id=patient.id,
                        user_id=form.cleaned_data["user"],
                        reason=form.cleaned_data["reason"],
                        expires_at=form.cleaned_data["expires_at"],
                    )
                except DomainError as exc:
                    form.add_error(None, self._refusal_message(exc))
                    for error in exc.errors:
                        field = "user" if error.field == "user_id" else error.field
                        form.add_error(field if field in form.fields else None, error.message)
                else:
                    messages.success(request, "Added to the care team.")
                    next_url = self._care_team_next(patient.id, form.cleaned_data["next"])
                    return HttpResponseRedirect(next_url + "#care-team")
        return self._render(
            request,
            "care_team.html",
            "Care team",
            {
                "patient_id": patient.id,
                "confidentiality": patient.get_confidentiality_display(),
                "restricted": patient.confidentiality == Confidentiality.RESTRICTED,
                **self.care_team_context(request, patient.id, form),
            },
        )

    def care_team_revoke(
        self, request: HttpRequest, patient_id: UUID, grant_id: UUID
    ) -> HttpResponse:
        """Revoke one grant of the patient now (POST); it stops working at the next access."""
        try:
            access_grant_revoke(
                actor=request_principal(request), patient_id=patient_id, grant_id=grant_id
            )
        except NotFoundError as exc:
            raise Http404 from exc
        messages.success(request, "Access revoked.")
        next_url = self._care_team_next(patient_id, request.POST.get("next", ""))
        return HttpResponseRedirect(next_url + "#care-team")

    @staticmethod
    def _refusal_message(exc: DomainError) -> str:
        """What to tell the user about a service's refusal (a vanished patient is a 404)."""
        if isinstance(exc, NotFoundError):
            raise Http404 from exc
        if isinstance(exc, PreconditionFailedError):
            return STALE_MESSAGE
        if isinstance(exc, PatientInactiveError):
            return INACTIVE_MESSAGE
        return exc.detail  # PHI-free by contract (tenancy.errors)

    def _show_refusal(
        self,
        group: PatientFormGroup,
        exc: DomainError,
        routes: dict[str, tuple[Any, str]] | None = None,
    ) -> None:
        group.errors.append(self._refusal_message(exc))
        group.add_service_errors(exc.errors, routes)

"""Console pages of patients: the front desk searches, registers, edits and deactivates; data
stewards look; every other role sees none of it (403).

PatientAdmin only authorizes and routes. The pages live in registration.console and write
through registration.services, never through ModelAdmin's ORM saving; nothing is ever deleted.
"""

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from registration.console.views import PatientConsole
from registration.console.vital_status import death_worklist, review_resolve
from registration.models import (
    DeathNotificationReview,
    GrantKind,
    IdentifierDomain,
    Patient,
    PatientAccessGrant,
)
from registration.services.access import GRANT_MANAGER_ROLES, break_glass_review
from registration.services.domains import identifier_domain_save, validate_identifier_domain
from tenancy.admin_base import TenantScopedAdmin, request_principal
from tenancy.errors import DomainError, ValidationFailedError
from tenancy.models import Role
from tenancy.modules import BREAK_GLASS, REGISTRATION


def _patient_id(object_id: str) -> UUID:
    try:
        return UUID(object_id)
    except ValueError as exc:
        raise Http404 from exc


@admin.register(Patient)
class PatientAdmin(TenantScopedAdmin):
    """The front desk's patient pages, reached through the admin's usual patient URLs."""

    required_module = REGISTRATION
    view_roles = (Role.DATA_STEWARD,)
    change_roles = (Role.FRONT_DESK,)
    actions = None

    def __init__(self, model: type[Patient], admin_site: AdminSite) -> None:
        super().__init__(model, admin_site)
        self.console = PatientConsole(admin_site=admin_site, opts=self.opts)

    def get_urls(self) -> list[URLPattern]:
        """The admin's patient URLs plus edit, deactivate and the live duplicate check."""
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("duplicates/", view(self.duplicates_view), name=f"{prefix}_duplicates"),
            path("<uuid:patient_id>/edit/", view(self.edit_view), name=f"{prefix}_edit"),
            path(
                "<uuid:patient_id>/vital-status/",
                view(self.vital_status_view),
                name=f"{prefix}_vital_status",
            ),
            path(
                "<uuid:patient_id>/portrait/", view(self.portrait_view), name=f"{prefix}_portrait"
            ),
            path(
                "<uuid:patient_id>/portrait/change/",
                view(self.portrait_change_view),
                name=f"{prefix}_portrait_change",
            ),
            path(
                "<uuid:patient_id>/deactivate/",
                view(self.deactivate_view),
                name=f"{prefix}_deactivate",
            ),
            path(
                "<uuid:patient_id>/break-glass/",
                view(self.break_glass_view),
                name=f"{prefix}_break_glass",
            ),
            path(
                "<uuid:patient_id>/care-team/",
                view(self.care_team_view),
                name=f"{prefix}_care_team",
            ),
            path(
                "<uuid:patient_id>/care-team/<uuid:grant_id>/revoke/",
                view(self.care_team_revoke_view),
                name=f"{prefix}_care_team_revoke",
            ),
            *super().get_urls(),
        ]

    def _require(self, request: HttpRequest, *, change: bool) -> None:
        allowed = (
            self.has_change_permission(request) if change else self.has_view_permission(request)
        )
        if not allowed:
            raise PermissionDenied

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Patient search (the selector's search, not the admin's ORM search)."""
        self._require(request, change=False)
        return self.console.search(request, can_change=self.has_change_permission(request))

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Registration, through patient_register."""
        self._require(request, change=True)
        return self.console.register(request)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The patient page (read-only; editing has its own page). A grant manager who may not
        view patients is sent to the patient's care-team page instead."""
        if not self.has_view_permission(request) and self._manages_grants(request):
            return HttpResponseRedirect(self.console.url("care_team", _patient_id(object_id)))
        self._require(request, change=False)
        return self.console.detail(
            request, _patient_id(object_id), can_change=self.has_change_permission(request)
        )

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The history is on the patient page (from our audit trail, not Django's admin log)."""
        self._require(request, change=False)
        return HttpResponseRedirect(self.console.url("change", _patient_id(object_id)) + "#history")

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Patients are never deleted (deactivate instead)."""
        raise PermissionDenied

    def edit_view(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Edit the record, through patient_update with the version the form showed."""
        self._require(request, change=True)
        return self.console.edit(request, patient_id)

    def deactivate_view(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Deactivate the record, through patient_deactivate with a reason."""
        self._require(request, change=True)
        return self.console.deactivate(request, patient_id)

    def vital_status_view(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Vital status and its history; front desk records deaths, stewards review them."""
        self._require(request, change=False)
        return self.console.vital_status(request, patient_id)

    def break_glass_view(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Open a restricted record with a reason (anyone who may view patients; POST only)."""
        self._require(request, change=False)
        return require_POST(self.console.break_glass)(request, patient_id)

    def _manages_grants(self, request: HttpRequest) -> bool:
        return self._has_role(request, GRANT_MANAGER_ROLES)

    def care_team_view(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """A patient's care team: tenant administrators and privacy officers add members."""
        if not self._manages_grants(request):
            raise PermissionDenied
        return self.console.care_team(request, patient_id)

    def care_team_revoke_view(
        self, request: HttpRequest, patient_id: UUID, grant_id: UUID
    ) -> HttpResponse:
        """Revoke one of the patient's grants now (POST only; the same roles)."""
        if not self._manages_grants(request):
            raise PermissionDenied
        return require_POST(lambda req: self.console.care_team_revoke(req, patient_id, grant_id))(
            request
        )

    def portrait_view(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """The decrypted portrait as image/jpeg (every read is audited)."""
        self._require(request, change=False)
        return self.console.portrait(request, patient_id)

    def portrait_change_view(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """Upload, replace or remove the portrait (front desk; POST only)."""
        self._require(request, change=True)
        return require_POST(lambda req: self.console.portrait_change(req, patient_id))(request)

    def duplicates_view(self, request: HttpRequest) -> HttpResponse:
        """The registration form's live duplicate check (session, CSRF, front desk only)."""
        self._require(request, change=True)
        return require_POST(self.console.duplicates)(request)

    def save_model(self, request: HttpRequest, obj: Patient, form: Any, change: Any) -> None:
        """Never used: the console writes through registration.services."""
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj: Patient) -> None:
        """Never used: patients are deactivated, not deleted."""
        raise NotImplementedError


@admin.register(IdentifierDomain)
class IdentifierDomainAdmin(TenantScopedAdmin):
    """Tenant administrators manage the tenant's assigning authorities and their rules."""

    required_module = REGISTRATION
    view_roles = (Role.FRONT_DESK,)
    change_roles = (Role.TENANT_ADMIN,)
    list_display = ("name", "system", "type_code", "check_digit")
    fields = ("system", "name", "type_code", "format_regex", "check_digit")

    def save_model(
        self, request: HttpRequest, obj: IdentifierDomain, form: Any, change: bool
    ) -> None:
        """Write through the service; its field errors are shown on the form."""
        saved = identifier_domain_save(
            actor=request_principal(request),
            system=obj.system,
            name=obj.name,
            type_code=obj.type_code,
            format_regex=obj.format_regex,
            check_digit=obj.check_digit,
            domain_id=obj.pk if change else None,
        )
        obj.pk = saved.pk

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """A form that runs the service's validation before saving, so errors show per field."""
        base = super().get_form(request, obj, change=change, **kwargs)

        class DomainForm(base):  # type: ignore[misc, valid-type]  # dynamic ModelForm base
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                try:
                    validate_identifier_domain(
                        system=cleaned.get("system", ""),
                        name=cleaned.get("name", ""),
                        type_code=cleaned.get("type_code", ""),
                        format_regex=cleaned.get("format_regex", ""),
                        check_digit=cleaned.get("check_digit", ""),
                    )
                except ValidationFailedError as exc:
                    for error in exc.errors:
                        self.add_error(
                            error.field if error.field in self.fields else None, error.message
                        )
                return cleaned

        return DomainForm


@admin.register(DeathNotificationReview)
class DeathWorklistAdmin(TenantScopedAdmin):
    """The stewards' death worklist: unverified deaths and civil-registry notifications that
    could not be tied to exactly one patient."""

    required_module = REGISTRATION
    view_roles = ()
    change_roles = (Role.DATA_STEWARD,)
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Notifications arrive through the inbox, never by hand."""
        return False

    def get_urls(self) -> list[URLPattern]:
        """The worklist, plus resolving one queued notification."""
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<int:review_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name=f"{prefix}_resolve",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Both worklists on one page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return death_worklist(
            request,
            context={
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Death worklist",
            },
            patient_url=lambda pid: reverse(
                f"{self.admin_site.name}:registration_patient_change", args=(pid,)
            ),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Reviews are resolved from the worklist."""
        return HttpResponseRedirect(self._worklist_url())

    def resolve_view(self, request: HttpRequest, review_id: int) -> HttpResponse:
        """Record the death for the chosen patient, or dismiss the notification (POST only)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        return require_POST(
            lambda req: review_resolve(req, review_id, worklist_url=self._worklist_url())
        )(request)

    def _worklist_url(self) -> str:
        return reverse(f"{self.admin_site.name}:registration_deathnotificationreview_changelist")


class BreakGlassReviewForm(forms.ModelForm):  # type: ignore[type-arg]  # ModelForm generic
    """The privacy officer's verdict: both fields are required."""

    class Meta:
        model = PatientAccessGrant
        fields = ("review_decision", "review_note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.Meta.fields:
            if name in self.fields:
                self.fields[name].required = True


@admin.register(PatientAccessGrant)
class BreakGlassGrantAdmin(TenantScopedAdmin):
    """The review queue: auditors mark each break-glass access justified or not, with a note.

    Read-only once reviewed; grants are never added or deleted here.
    """

    required_module = BREAK_GLASS
    change_roles = (Role.AUDITOR,)
    form = BreakGlassReviewForm
    list_display = (
        "id",
        "patient_id",
        "grantee_user",
        "grantee_api_key_id",
        "reason_category",
        "granted_at",
        "expires_at",
        "review_decision",
    )
    list_filter = ("review_decision", "reason_category")
    ordering = ("-granted_at",)
    readonly = (
        "id",
        "patient_id",
        "grantee_user",
        "grantee_api_key_id",
        "reason_category",
        "reason_text",
        "granted_at",
        "expires_at",
        "revoked_at",
        "reviewed_at",
        "reviewed_by",
    )

    def get_queryset(self, request: HttpRequest) -> Any:
        """Break-glass grants only (care-team grants are not reviewed)."""
        return super().get_queryset(request).filter(kind=GrantKind.BREAK_GLASS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None and obj.review_decision:
            return (*self.readonly, "review_decision", "review_note")
        return self.readonly

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*self.readonly, "review_decision", "review_note")

    def save_model(
        self, request: HttpRequest, obj: PatientAccessGrant, form: Any, change: bool
    ) -> None:
        """Record the verdict through the service (once; audited)."""
        principal = request_principal(request)
        if principal is None:  # pragma: no cover - the page refused already
            raise PermissionDenied
        try:
            break_glass_review(
                actor=principal,
                grant_id=obj.id,
                decision=obj.review_decision,
                note=obj.review_note,
            )
        except DomainError as exc:
            messages.error(request, exc.detail)

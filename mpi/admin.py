"""Console pages of the MPI: batch deduplication jobs (start, follow progress, cancel), the
tenant's own placeholder values, the steward review queue and the merge ledger.

The admin classes only authorize and route; the pages live in mpi.console and write through
mpi.services. Data stewards and tenant administrators decide, merge and run batch jobs;
tenant administrators declare placeholders; auditors look.
"""

from typing import Any
from uuid import UUID

from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from mpi.console.views import ReviewConsole
from mpi.models import BatchJob, MatchCandidate, PatientMerge, PlaceholderField, PlaceholderValue
from mpi.services.batch import batch_job_cancel, batch_job_request
from mpi.services.placeholders import placeholder_value_add, placeholder_value_remove
from mpi.tasks import batch_job_enqueue
from tenancy.admin_base import TenantScopedAdmin, request_principal
from tenancy.errors import DomainError
from tenancy.models import Role

_PROGRESS_FIELDS = (
    "status",
    "progress_percent",
    "done",
    "total",
    "chunks",
    "pairs_scored",
    "pairs_per_second_display",
    "proposals",
    "model_version",
    "cancel_requested",
    "requested_by",
    "error",
    "created_at",
    "started_at",
    "finished_at",
)


@admin.register(BatchJob)
class BatchJobAdmin(TenantScopedAdmin):
    """Data stewards and tenant administrators start deduplication jobs and watch them run."""

    required_module = "mpi"
    view_roles = ()
    change_roles = (Role.DATA_STEWARD, Role.TENANT_ADMIN)
    list_display = (
        "created_at",
        "status",
        "progress_percent",
        "done",
        "total",
        "pairs_scored",
        "pairs_per_second_display",
        "finished_at",
    )
    list_filter = ("status",)
    ordering = ("-created_at",)
    actions = ("cancel_jobs",)

    @admin.display(description="progress")
    def progress_percent(self, job: BatchJob) -> str:
        return f"{job.progress * 100:.1f}%"

    @admin.display(description="pairs/s")
    def pairs_per_second_display(self, job: BatchJob) -> str:
        return f"{job.pairs_per_second:,.0f}"

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        """A new job asks only for its slice; an existing one shows its progress."""
        if obj is None:
            return ("birth_year_from", "birth_year_to")
        return ("birth_year_from", "birth_year_to", *_PROGRESS_FIELDS)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return ()
        return ("birth_year_from", "birth_year_to", *_PROGRESS_FIELDS)

    def save_model(self, request: HttpRequest, obj: BatchJob, form: Any, change: bool) -> None:
        """Start a job through the service and enqueue it (jobs are never edited)."""
        if change:
            return
        job = batch_job_request(
            actor=request_principal(request),
            birth_year_from=obj.birth_year_from,
            birth_year_to=obj.birth_year_to,
        )
        batch_job_enqueue(job)
        obj.pk = job.pk

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """The add form checks the service's rules first, so a refusal shows on the form."""
        base = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            return base

        class StartForm(base):  # type: ignore[misc, valid-type]  # dynamic ModelForm base
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                start, end = cleaned.get("birth_year_from"), cleaned.get("birth_year_to")
                if start is not None and end is not None and start > end:
                    self.add_error("birth_year_to", "Must not be before the first year.")
                if BatchJob.objects.filter(status__in=("queued", "running")).exists():
                    self.add_error(None, "A deduplication job is already queued or running.")
                return cleaned

        return StartForm

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[BatchJob]) -> None:
        """Cancel each live job of the selection; others are reported, not changed."""
        cancelled = 0
        for job in queryset:
            try:
                batch_job_cancel(actor=request_principal(request), job_id=job.id)
                cancelled += 1
            except DomainError as exc:
                self.message_user(request, f"{job.pk}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"Cancelled {cancelled} job(s).")


@admin.register(PlaceholderValue)
class PlaceholderValueAdmin(TenantScopedAdmin):
    """Tenant administrators declare the tenant's own placeholders; data stewards read them."""

    required_module = "mpi"
    view_roles = (Role.DATA_STEWARD,)
    change_roles = (Role.TENANT_ADMIN,)
    list_display = ("field", "value", "created_by", "created_at")
    list_filter = ("field",)
    fields = ("field", "value")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        """Placeholders are added or removed, never edited."""
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has_role(request, self.change_roles)

    def save_model(
        self, request: HttpRequest, obj: PlaceholderValue, form: Any, change: bool
    ) -> None:
        """Add through the service."""
        saved = placeholder_value_add(
            actor=request_principal(request), field=PlaceholderField(obj.field), value=obj.value
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: PlaceholderValue) -> None:
        """Remove through the service."""
        placeholder_value_remove(actor=request_principal(request), placeholder_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PlaceholderValue]) -> None:
        """Bulk removal, one service call each (audited)."""
        for row in queryset:
            self.delete_model(request, row)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """Refuse a duplicate on the form rather than with a server error."""
        base = super().get_form(request, obj, change=change, **kwargs)

        class PlaceholderForm(base):  # type: ignore[misc, valid-type]  # dynamic ModelForm base
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                value = (cleaned.get("value") or "").strip()
                if PlaceholderValue.objects.filter(
                    field=cleaned.get("field"), value=value
                ).exists():
                    self.add_error("value", "This placeholder is already declared.")
                return cleaned

        return PlaceholderForm


def _uuid(object_id: str) -> UUID:
    try:
        return UUID(object_id)
    except ValueError as exc:
        raise Http404 from exc


class _ReviewAdmin(TenantScopedAdmin):
    required_module = "mpi"
    view_roles = (Role.AUDITOR,)
    change_roles = (Role.DATA_STEWARD, Role.TENANT_ADMIN)
    actions = None

    def __init__(self, model: Any, admin_site: AdminSite) -> None:
        super().__init__(model, admin_site)
        self.console = ReviewConsole(admin_site=admin_site)

    def _require(self, request: HttpRequest, *, change: bool) -> None:
        allowed = (
            self.has_change_permission(request) if change else self.has_view_permission(request)
        )
        if not allowed:
            raise PermissionDenied

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Pairs are proposed by the matcher and merges made from the queue, never added."""
        return False

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Nothing here is ever deleted."""
        raise PermissionDenied


@admin.register(MatchCandidate)
class MatchCandidateAdmin(_ReviewAdmin):
    """The review queue and the side-by-side compare."""

    def get_urls(self) -> list[URLPattern]:
        """The queue's URLs plus claim and decide."""
        view = self.admin_site.admin_view
        return [
            path("bulk/", view(self.bulk_view), name="mpi_matchcandidate_bulk"),
            path(
                "<uuid:candidate_id>/claim/", view(self.claim_view), name="mpi_matchcandidate_claim"
            ),
            path(
                "<uuid:candidate_id>/decide/",
                view(self.decide_view),
                name="mpi_matchcandidate_decide",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The queue, most probable first."""
        self._require(request, change=False)
        return self.console.queue(request, can_decide=self.has_change_permission(request))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The compare page of one pair."""
        self._require(request, change=False)
        return self.console.compare(
            request, _uuid(object_id), can_decide=self.has_change_permission(request)
        )

    def claim_view(self, request: HttpRequest, candidate_id: UUID) -> HttpResponse:
        """Claim a pair (POST, stewards)."""
        self._require(request, change=True)
        return require_POST(lambda r: self.console.claim(r, candidate_id))(request)

    def bulk_view(self, request: HttpRequest) -> HttpResponse:
        """Decide the ticked pairs (POST, stewards)."""
        self._require(request, change=True)
        return require_POST(self.console.bulk)(request)

    def decide_view(self, request: HttpRequest, candidate_id: UUID) -> HttpResponse:
        """Merge, not a duplicate, skip or reopen (POST, stewards)."""
        self._require(request, change=True)
        return require_POST(lambda r: self.console.decide(r, candidate_id))(request)


@admin.register(PatientMerge)
class PatientMergeAdmin(_ReviewAdmin):
    """The merge ledger: each merge with both records, and its undo."""

    list_display = ("id", "status", "survivor_id", "subsumed_id", "merged_by", "merged_at")
    list_filter = ("status",)
    ordering = ("-merged_at",)

    def get_urls(self) -> list[URLPattern]:
        """The ledger's URLs plus unmerge."""
        view = self.admin_site.admin_view
        return [
            path(
                "<uuid:merge_id>/unmerge/", view(self.unmerge_view), name="mpi_patientmerge_unmerge"
            ),
            *super().get_urls(),
        ]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Stewards undo merges; the ledger rows themselves are never edited."""
        return self._has_role(request, self.change_roles)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """One merge with both records as they stand now."""
        self._require(request, change=False)
        return self.console.merge_detail(
            request, _uuid(object_id), can_decide=self.has_change_permission(request)
        )

    def unmerge_view(self, request: HttpRequest, merge_id: UUID) -> HttpResponse:
        """Undo the merge (POST, stewards)."""
        self._require(request, change=True)
        return require_POST(lambda r: self.console.unmerge(r, merge_id))(request)

"""Console pages of the MPI: the steward review queue and the merge ledger.

The admin classes only authorize and route; the pages live in mpi.console and write through
mpi.services. Data stewards and tenant administrators decide and merge; auditors look.
"""

from typing import Any
from uuid import UUID

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from mpi.console.views import ReviewConsole
from mpi.models import MatchCandidate, PatientMerge
from tenancy.admin_base import TenantScopedAdmin
from tenancy.models import Role


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
        """Merge, not a duplicate, or skip (POST, stewards)."""
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

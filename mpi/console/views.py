"""The steward's console pages: the review queue, the side-by-side compare with its decisions
(merge, not a duplicate, skip) and the merge page with its undo.

The admin classes in mpi.admin authorize and route here. Pages parse, call a selector or a
service, log every patient shown (access log) and render; a service's refusal is shown as a
message with nothing saved.

Restricted patients (docs/SECURITY.md): the queue names a restricted patient the steward may not
open only as "Restricted record"; the compare page, its decisions, the merge page and its undo
answer 403 with the break-glass form for such a patient. The compare page shows both portraits
when the tenant licenses `portrait` (the steward may open both records by then).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from mpi.console.display import compare_rows
from mpi.models import CandidateGrade, CandidateStatus, MatchCandidate, MatchDecisionKind
from mpi.selectors.review import (
    QueueFilter,
    candidate_get,
    candidate_next,
    candidate_queue,
    merge_get,
)
from mpi.services.merges import patients_merge, patients_merge_preview, patients_unmerge
from mpi.services.review import (
    DECIDED,
    candidate_claim,
    candidate_decide,
    candidate_reopen,
    candidates_decide_bulk,
)
from registration.console.display import history_rows, patient_title
from registration.console.forms import BreakGlassForm
from registration.models import Patient
from registration.selectors.access import PatientAccess, patients_access_by_ids
from registration.selectors.history import patient_history
from registration.selectors.patients import patient_get
from registration.selectors.portraits import portrait_exists
from registration.services.patients import patient_access_log
from tenancy.admin_base import request_principal
from tenancy.errors import DomainError, NotFoundError
from tenancy.modules import BREAK_GLASS, PORTRAIT
from tenancy.selectors.entitlements import module_entitled

QUEUE_SIZE = 50
RESTRICTED_TITLE = "Restricted record"
MERGE_REASON = "Same person (review queue)"
NOT_DUPLICATE_REASONS = (
    "Different people: family members (twins, parent and child)",
    "Different people: same common name and birth date",
    "Different people: shared phone or address only",
)


class QueueForm(forms.Form):
    """The queue's filters (all optional)."""

    status = forms.ChoiceField(
        choices=[("", "Any status"), *CandidateStatus.choices],
        required=False,
        initial=CandidateStatus.OPEN,
    )
    grade = forms.ChoiceField(choices=[("", "Any grade"), *CandidateGrade.choices], required=False)
    facility = forms.CharField(max_length=64, required=False)
    min_age = forms.IntegerField(min_value=0, max_value=150, required=False)
    max_age = forms.IntegerField(min_value=0, max_value=150, required=False)
    assignee = forms.CharField(
        max_length=64, required=False, help_text='"me", "-" for unassigned, or a label'
    )

    def criteria(self, me: str) -> QueueFilter:
        """The selector's filter; an invalid form filters on the default (open pairs)."""
        if not self.is_valid():
            return QueueFilter()
        data = self.cleaned_data
        assignee = me if data["assignee"] == "me" else data["assignee"]
        return QueueFilter(
            status=data["status"] if "status" in self.data else CandidateStatus.OPEN,
            grade=data["grade"],
            facility=data["facility"],
            min_age=data["min_age"],
            max_age=data["max_age"],
            assignee=assignee,
        )


class ReviewConsole:
    """The review pages of one admin site."""

    def __init__(self, *, admin_site: AdminSite) -> None:
        self.admin_site = admin_site

    def url(self, name: str, *args: object) -> str:
        """The admin URL of a review page (`mpi_matchcandidate_changelist`, …)."""
        return reverse(f"{self.admin_site.name}:mpi_{name}", args=args)

    def _render(
        self, request: HttpRequest, template: str, title: str, context: dict[str, Any]
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/mpi/{template}",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "queue_url": self.url("matchcandidate_changelist"),
                **context,
            },
        )

    def _access(
        self, request: HttpRequest, patient_ids: list[UUID]
    ) -> tuple[dict[UUID, PatientAccess], HttpResponse | None]:
        """The steward's access to these patients, and the 403 page when one is denied."""
        access = patients_access_by_ids(request_principal(request), patient_ids)
        denied = [i for i in patient_ids if not access[i].allowed]
        return access, (self._restricted(request, denied[0]) if denied else None)

    def _restricted(self, request: HttpRequest, patient_id: UUID) -> HttpResponse:
        """403: a restricted record of the pair; offer break-glass on it (the patient page's)."""
        return TemplateResponse(
            request,
            "admin/registration/patient/restricted.html",
            {
                **self.admin_site.each_context(request),
                "title": "Restricted record",
                "changelist_url": self.url("matchcandidate_changelist"),
                "patient_id": patient_id,
                "break_glass_available": module_entitled(BREAK_GLASS),
                "form": BreakGlassForm(),
                "break_glass_url": reverse(
                    f"{self.admin_site.name}:registration_patient_break_glass", args=[patient_id]
                ),
            },
            status=403,
        )

    def _portrait_url(self, patient: Patient) -> str:
        """The console portrait URL when the tenant licenses portraits and one is stored."""
        if not module_entitled(PORTRAIT) or not portrait_exists(patient_id=patient.id):
            return ""
        return reverse(f"{self.admin_site.name}:registration_patient_portrait", args=[patient.id])

    @staticmethod
    def _me(request: HttpRequest) -> str:
        principal = request_principal(request)
        return principal.label if principal else ""

    def _criteria(self, request: HttpRequest) -> QueueFilter:
        return QueueForm(request.GET).criteria(self._me(request))

    def queue(self, request: HttpRequest, *, can_decide: bool) -> HttpResponse:
        """The queue: pairs most probable first, filters, claim."""
        form = QueueForm(request.GET or None, initial={"status": CandidateStatus.OPEN})
        criteria = form.criteria(self._me(request)) if form.is_bound else QueueFilter()
        pairs = list(candidate_queue(criteria, today=timezone.localdate())[:QUEUE_SIZE])
        ids = [p for c in pairs for p in (c.patient_low_id, c.patient_high_id)]
        access = patients_access_by_ids(request_principal(request), ids)
        patient_access_log(
            actor=request_principal(request),
            patient_ids=ids,
            action="patient.searched",
            details={i: access[i].audit_details() for i in ids},
        )

        def title(patient: Patient) -> str:
            return patient_title(patient) if access[patient.id].allowed else RESTRICTED_TITLE

        query = request.GET.urlencode()
        return self._render(
            request,
            "matchcandidate/queue.html",
            "Review queue",
            {
                "form": form,
                "rows": [
                    {
                        "candidate": c,
                        "left": title(c.patient_low),
                        "right": title(c.patient_high),
                        "url": self.url("matchcandidate_change", c.id)
                        + (f"?{query}" if query else ""),
                        "claim_url": self.url("matchcandidate_claim", c.id),
                    }
                    for c in pairs
                ],
                "can_decide": can_decide,
                "me": self._me(request),
                "bulk_url": self.url("matchcandidate_bulk") + (f"?{query}" if query else ""),
                "decisions": MatchDecisionKind.choices,
            },
        )

    def bulk(self, request: HttpRequest) -> HttpResponse:
        """The same decision for the ticked pairs of the queue: all of them or none."""
        suffix = f"?{request.GET.urlencode()}" if request.GET else ""
        back = HttpResponseRedirect(self.url("matchcandidate_changelist") + suffix)
        try:
            ids = [UUID(value) for value in request.POST.getlist("candidate_ids")]
            decision = MatchDecisionKind(request.POST.get("decision", ""))
        except ValueError:
            messages.error(request, "Tick at least one pair and choose a decision.")
            return back
        pairs = []
        for candidate_id in ids:
            try:
                pairs.append(candidate_get(candidate_id=candidate_id))
            except NotFoundError:
                continue  # the service refuses the whole batch below
        _, refused = self._access(
            request, [p for c in pairs for p in (c.patient_low_id, c.patient_high_id)]
        )
        if refused is not None:
            messages.error(request, "A ticked pair has a restricted record; nothing was decided.")
            return back
        try:
            decided = candidates_decide_bulk(
                actor=request_principal(request),
                candidate_ids=ids,
                decision=decision,
                reason=request.POST.get("reason", ""),
            )
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, f"{len(decided)} pairs decided.")
        return back

    def _candidate_or_404(self, candidate_id: UUID) -> MatchCandidate:
        try:
            return candidate_get(candidate_id=candidate_id)
        except NotFoundError as exc:
            raise Http404 from exc

    def compare(
        self, request: HttpRequest, candidate_id: UUID, *, can_decide: bool
    ) -> HttpResponse:
        """Both records side by side with the evidence, and the decision buttons."""
        candidate = self._candidate_or_404(candidate_id)
        access, refused = self._access(
            request, [candidate.patient_low_id, candidate.patient_high_id]
        )
        if refused is not None:
            return refused
        left = patient_get(patient_id=candidate.patient_low_id)
        right = patient_get(patient_id=candidate.patient_high_id)
        patient_access_log(
            actor=request_principal(request),
            patient_ids=[left.id, right.id],
            details={i: access[i].audit_details() for i in (left.id, right.id)},
        )
        criteria = self._criteria(request)
        today = timezone.localdate()
        query = request.GET.urlencode()
        suffix = f"?{query}" if query else ""

        def pair_url(pair_id: UUID | None) -> str:
            return self.url("matchcandidate_change", pair_id) + suffix if pair_id else ""

        older = left if left.created_at <= right.created_at else right
        previews = {}
        if can_decide and left.active and right.active:
            # Nothing is written: the result of a merge into either record, shown per row.
            for survivor, subsumed in ((left, right), (right, left)):
                previews[survivor.id] = patients_merge_preview(
                    survivor_id=survivor.id, subsumed_id=subsumed.id
                ).record
        return self._render(
            request,
            "matchcandidate/compare.html",
            "Compare pair",
            {
                "candidate": candidate,
                "left": left,
                "right": right,
                "left_title": patient_title(left),
                "right_title": patient_title(right),
                "left_portrait_url": self._portrait_url(left),
                "right_portrait_url": self._portrait_url(right),
                "rows": compare_rows(
                    left,
                    right,
                    candidate.explanation,
                    if_left_survives=previews.get(left.id),
                    if_right_survives=previews.get(right.id),
                ),
                "previews": bool(previews),
                "left_history": history_rows(patient_history(patient_id=left.id, limit=20)),
                "right_history": history_rows(patient_history(patient_id=right.id, limit=20)),
                "default_survivor": older.id,
                "can_decide": can_decide and candidate.status == CandidateStatus.OPEN,
                # A decided pair reopens any time; a merged or superseded one once the merge
                # was undone (both records active again).
                "can_reopen": can_decide
                and (
                    candidate.status in DECIDED
                    or (candidate.status != CandidateStatus.OPEN and left.active and right.active)
                ),
                "decide_url": self.url("matchcandidate_decide", candidate.id) + suffix,
                "claim_url": self.url("matchcandidate_claim", candidate.id),
                "next_url": pair_url(
                    candidate_next(after=candidate, criteria=criteria, today=today)
                ),
                "previous_url": pair_url(
                    candidate_next(after=candidate, criteria=criteria, today=today, step=-1)
                ),
                "merge_reason": MERGE_REASON,
                "not_duplicate_reasons": NOT_DUPLICATE_REASONS,
                "queue_query": suffix,
            },
        )

    def claim(self, request: HttpRequest, candidate_id: UUID) -> HttpResponse:
        """Claim a pair for oneself, then show it."""
        candidate = self._candidate_or_404(candidate_id)
        _, refused = self._access(request, [candidate.patient_low_id, candidate.patient_high_id])
        if refused is not None:
            return refused
        try:
            candidate_claim(actor=request_principal(request), candidate_id=candidate_id)
        except NotFoundError as exc:
            raise Http404 from exc
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, "Pair claimed.")
        return HttpResponseRedirect(self.url("matchcandidate_change", candidate_id))

    def decide(self, request: HttpRequest, candidate_id: UUID) -> HttpResponse:
        """Merge (into the chosen survivor), not a duplicate (with a reason), skip, or reopen a
        closed pair (with a reason)."""
        candidate = self._candidate_or_404(candidate_id)
        _, refused = self._access(request, [candidate.patient_low_id, candidate.patient_high_id])
        if refused is not None:
            return refused
        suffix = f"?{request.GET.urlencode()}" if request.GET else ""
        here = self.url("matchcandidate_change", candidate.id) + suffix
        action = request.POST.get("action", "")
        actor = request_principal(request)
        nxt = candidate_next(
            after=candidate, criteria=self._criteria(request), today=timezone.localdate()
        )
        next_url = (
            self.url("matchcandidate_change", nxt) + suffix
            if nxt
            else self.url("matchcandidate_changelist") + suffix
        )
        try:
            if action == "merge":
                return self._merge_pair(request, candidate, here)
            if action == "reopen":
                candidate_reopen(
                    actor=actor, candidate_id=candidate.id, reason=request.POST.get("reason", "")
                )
                messages.success(request, "Pair reopened.")
            elif action == "not_duplicate":
                candidate_decide(
                    actor=actor,
                    candidate_id=candidate.id,
                    decision=MatchDecisionKind.NOT_DUPLICATE,
                    reason=request.POST.get("reason", ""),
                )
                messages.success(request, "Marked as different people.")
        except NotFoundError as exc:
            raise Http404 from exc
        except DomainError as exc:
            messages.error(request, exc.detail)
            return HttpResponseRedirect(here)
        # A reopened pair stays in view; a decided or skipped one gives way to the next.
        return HttpResponseRedirect(here if action == "reopen" else next_url)

    def _merge_pair(
        self, request: HttpRequest, candidate: MatchCandidate, here: str
    ) -> HttpResponse:
        """Merge the pair into the chosen survivor with the rules' defaults, then show it."""
        pair = {str(candidate.patient_low_id), str(candidate.patient_high_id)}
        survivor = request.POST.get("survivor", "")
        if survivor not in pair:
            messages.error(request, "Choose which record survives.")
            return HttpResponseRedirect(here)
        (subsumed,) = pair - {survivor}
        merge = patients_merge(
            actor=request_principal(request),
            survivor_id=UUID(survivor),
            subsumed_id=UUID(subsumed),
            field_choices=None,
            reason=request.POST.get("reason", "") or MERGE_REASON,
            expected_versions={
                UUID(pid): int(request.POST.get(f"version_{pid}", "0") or 0) for pid in pair
            },
        )
        messages.success(request, "Records merged.")
        return HttpResponseRedirect(self.url("patientmerge_change", merge.id))

    def merge_detail(
        self, request: HttpRequest, merge_id: UUID, *, can_decide: bool
    ) -> HttpResponse:
        """A merge: both records as they stand now, and the undo."""
        try:
            merge = merge_get(merge_id=merge_id)
        except NotFoundError as exc:
            raise Http404 from exc
        access, refused = self._access(request, [merge.survivor_id, merge.subsumed_id])
        if refused is not None:
            return refused
        survivor = patient_get(patient_id=merge.survivor_id)
        subsumed = patient_get(patient_id=merge.subsumed_id)
        patient_access_log(
            actor=request_principal(request),
            patient_ids=[survivor.id, subsumed.id],
            details={i: access[i].audit_details() for i in (survivor.id, subsumed.id)},
        )
        return self._render(
            request,
            "patientmerge/detail.html",
            "Merge",
            {
                "merge": merge,
                "records": [
                    {"role": "Survivor", "patient": survivor, "title": patient_title(survivor)},
                    {"role": "Merged away", "patient": subsumed, "title": patient_title(subsumed)},
                ],
                "can_unmerge": can_decide and merge.status == "merged",
                "unmerge_url": self.url("patientmerge_unmerge", merge.id),
            },
        )

    def unmerge(self, request: HttpRequest, merge_id: UUID) -> HttpResponse:
        """Undo a merge with a reason."""
        try:
            merge = merge_get(merge_id=merge_id)
        except NotFoundError as exc:
            raise Http404 from exc
        _, refused = self._access(request, [merge.survivor_id, merge.subsumed_id])
        if refused is not None:
            return refused
        try:
            patients_unmerge(
                actor=request_principal(request),
                merge_id=merge_id,
                reason=request.POST.get("reason", ""),
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, "Merge undone: both records are back as they were.")
        return HttpResponseRedirect(self.url("patientmerge_change", merge_id))

"""Console pages of vital status: the change page of one patient (record, verify, correct,
refute), and the stewards' death worklist (unverified deaths, queued civil-registry
notifications). They parse, call a service or selector, and render; a refusal is shown with
nothing saved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from registration.console.forms import DismissForm, RecordForPatientForm, VitalStatusForm
from registration.models import DeathNotificationReview
from registration.selectors.vital_status import (
    death_notification_review_get,
    death_notification_reviews,
    unverified_deaths,
    vital_status_current,
    vital_status_history,
)
from registration.services.death_notifications import (
    death_notification_dismiss,
    death_notification_record,
)
from registration.services.patients import patient_access_log
from registration.services.vital_status import (
    DeathDate,
    vital_status_correct,
    vital_status_record_death,
    vital_status_refute,
    vital_status_verify,
)
from tenancy.admin_base import request_principal
from tenancy.errors import DomainError, PreconditionFailedError
from tenancy.models import Role

STEWARD_ACTIONS = frozenset({"verify", "correct", "refute"})
STALE = (
    "This patient was changed by someone else after you opened this page, so nothing was "
    "saved. Reload the page and try again."
)


def allowed_actions(request: HttpRequest) -> set[str]:
    """What this user may do to a vital status: front desk records, stewards review too."""
    principal = request_principal(request)
    if principal is None:
        return set()
    actions = set()
    if principal.has_any_role(Role.FRONT_DESK, Role.DATA_STEWARD):
        actions.add("record")
    if principal.has_any_role(Role.DATA_STEWARD):
        actions |= STEWARD_ACTIONS
    return actions


def _apply(request: HttpRequest, patient_id: UUID, form: VitalStatusForm) -> None:
    data: dict[str, Any] = form.cleaned_data
    actor = request_principal(request)
    death = DeathDate(
        data["deceased_date"], data["deceased_date_precision"], data["deceased_date_estimated"]
    )
    common: dict[str, Any] = {
        "actor": actor,
        "patient_id": patient_id,
        "expected_version": data["version"],
        "channel": "console",
    }
    action = data["action"]
    if action == "record":
        vital_status_record_death(**common, death=death, source=data["source"], note=data["reason"])
    elif action == "verify":
        vital_status_verify(**common, note=data["reason"])
    elif action == "correct":
        vital_status_correct(**common, death=death, reason=data["reason"])
    else:
        vital_status_refute(**common, reason=data["reason"], status=data["refuted_status"])


def vital_status_page(
    request: HttpRequest,
    patient_id: UUID,
    *,
    context: dict[str, Any],
    detail_url: str,
    access_details: Mapping[str, object] | None = None,
) -> HttpResponse:
    """Show the current status and history; apply one change posted by an allowed role.

    The caller has already applied the restricted-patient rules; `access_details` (the grant
    the access went through, if any) goes into the read's audit row."""
    current = vital_status_current(patient_id=patient_id)
    actions = allowed_actions(request)
    errors: list[str] = []
    if request.method == "POST":
        form = VitalStatusForm(request.POST)
        if form.is_valid() and form.cleaned_data["action"] not in actions:
            errors.append("Your role does not allow this change.")
        elif form.is_valid():
            try:
                _apply(request, patient_id, form)
            except PreconditionFailedError:
                errors.append(STALE)
            except DomainError as exc:
                errors.append(exc.detail)
                errors.extend(f"{e.field}: {e.message}" for e in exc.errors)
            else:
                messages.success(request, "Vital status changed.")
                return HttpResponseRedirect(detail_url + "#vital-status")
    else:
        form = VitalStatusForm(initial={"version": current.patient_version})
        patient_access_log(
            actor=request_principal(request),
            patient_ids=[patient_id],
            action="patient.vital_status_read",
            details={patient_id: access_details or {}},
        )
    action_field = form.fields["action"]
    if isinstance(action_field, forms.ChoiceField):
        action_field.choices = [
            (code, label) for code, label in VitalStatusForm.ACTIONS if code in actions
        ]
    return TemplateResponse(
        request,
        "admin/registration/patient/vital_status.html",
        {
            **context,
            "current": current,
            "history": vital_status_history(patient_id=patient_id),
            "form": form,
            "errors": errors,
            "detail_url": detail_url,
        },
    )


def death_worklist(
    request: HttpRequest, *, context: dict[str, Any], patient_url: Any
) -> HttpResponse:
    """Deaths no steward has verified yet, and notifications waiting for a patient."""
    deaths = list(unverified_deaths()[:200])
    reviews = list(death_notification_reviews()[:200])
    patient_access_log(
        actor=request_principal(request),
        patient_ids=[p.id for p in deaths] + [c for r in reviews for c in r.candidate_ids],
        action="patient.worklist_shown",
    )
    return TemplateResponse(
        request,
        "admin/registration/deathnotificationreview/worklist.html",
        {
            **context,
            "deaths": [(p, patient_url(p.id)) for p in deaths],
            "reviews": [(r, [(c, patient_url(c)) for c in r.candidate_ids]) for r in reviews],
            "dismiss_form": DismissForm(),
            "record_form": RecordForPatientForm(),
        },
    )


def review_resolve(request: HttpRequest, review_id: int, *, worklist_url: str) -> HttpResponse:
    """Record a queued notification for the patient the steward picked, or dismiss it."""
    review: DeathNotificationReview = death_notification_review_get(review_id=review_id)
    actor = request_principal(request)
    try:
        if request.POST.get("decision") == "record":
            record = RecordForPatientForm(request.POST)
            if not record.is_valid():
                messages.error(request, "Give the id of the patient this death is about.")
                return HttpResponseRedirect(worklist_url)
            death_notification_record(
                actor=actor, review_id=review.id, patient_id=record.cleaned_data["patient_id"]
            )
            messages.success(request, "Death recorded for the patient.")
        else:
            death_notification_dismiss(
                actor=actor, review_id=review.id, reason=request.POST.get("reason", "")
            )
            messages.success(request, "Notification dismissed.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return HttpResponseRedirect(worklist_url)

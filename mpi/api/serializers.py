"""Request and response shapes of the match API, and their mapping onto the matcher."""

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mpi.matching.score import ExplanationEntry, MatchGrade
from mpi.services.matching import MAX_COUNT, MatchResult, ScoredCandidate
from registration.api.serializers import (
    AddressSerializer,
    IdentifierInputSerializer,
    NameSerializer,
    TelecomSerializer,
    patient_input,
)
from registration.models import Gender
from registration.selectors.access import PatientAccess
from registration.services.inputs import PatientInput
from tenancy.api.fields import StrictIntegerField

Serializer = serializers.Serializer[Any]


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: not "true", 1 or "yes", which DRF's BooleanField would accept."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class MatchQuerySerializer(Serializer):
    """The demographics to match (the patient record's shape, every part optional) and options."""

    names = serializers.ListField(
        child=NameSerializer(), required=False, default=list, max_length=10
    )
    gender = serializers.ChoiceField(Gender.choices, default=Gender.UNKNOWN)
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    identifiers = serializers.ListField(
        child=IdentifierInputSerializer(), required=False, default=list, max_length=20
    )
    telecoms = serializers.ListField(
        child=TelecomSerializer(), required=False, default=list, max_length=20
    )
    addresses = serializers.ListField(
        child=AddressSerializer(), required=False, default=list, max_length=10
    )
    count = StrictIntegerField(
        min_value=1,
        max_value=MAX_COUNT,
        required=False,
        default=10,
        help_text="How many candidates to return at most, best first.",
    )
    only_certain = StrictBooleanField(
        required=False, default=False, help_text="Return only candidates graded `CERTAIN`."
    )


def match_demographics(validated: dict[str, Any]) -> PatientInput:
    """Service input from a validated match request (the options left out)."""
    return patient_input(
        {key: value for key, value in validated.items() if key not in {"count", "only_certain"}}
    )


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "nullable": True,
        "description": "A normalized value, a list of them (identifiers, phones), or null.",
    }
)
class ComparedValueField(serializers.JSONField):
    """A value the comparison saw: one normalized string, a list of them, or null."""


class TermFrequencySerializer(Serializer):
    """How a common (or rare) name changed the weight of an exact agreement."""

    value = serializers.CharField()
    frequency = serializers.FloatField(help_text="Share of the tenant's patients with the name.")
    u_before = serializers.FloatField()
    u_after = serializers.FloatField()


class ExplanationSerializer(Serializer):
    """One field's contribution to a candidate's score."""

    field = serializers.CharField()
    level = serializers.CharField(help_text="EXACT, CLOSE, FAR, MISSING, … (per field).")
    weight = serializers.FloatField(help_text="Evidence in bits: log2(m/u); 0 when missing.")
    m = serializers.FloatField(allow_null=True)
    u = serializers.FloatField(allow_null=True)
    query_value = ComparedValueField(help_text="The request's value, normalized.")
    candidate_value = ComparedValueField(help_text="The candidate's value, normalized.")
    term_frequency = TermFrequencySerializer(allow_null=True)


class MatchCandidateSerializer(Serializer):
    """An existing patient that may be the person described."""

    patient_id = serializers.UUIDField()
    probability = serializers.FloatField()
    weight = serializers.FloatField(help_text="Total evidence in bits.")
    grade = serializers.ChoiceField(
        [(str(grade), str(grade)) for grade in MatchGrade if grade is not MatchGrade.CERTAINLY_NOT]
    )
    found_by = serializers.ListField(
        child=serializers.CharField(), help_text="The blocking passes that proposed it."
    )
    explanation = ExplanationSerializer(many=True)
    masked = serializers.BooleanField(
        help_text="The candidate is a restricted patient the caller may not open: the "
        "explanation keeps each field's level and weight but not the compared values (open it "
        "through break-glass to see them)."
    )


class MatchResponseSerializer(Serializer):
    """Ranked candidates and how they were found."""

    candidates = MatchCandidateSerializer(many=True)
    model_version = serializers.CharField(help_text="The matching model that scored them.")
    truncated = serializers.BooleanField(
        help_text="Blocking proposed more patients than `candidate_bound`; the weakest were "
        "not scored."
    )
    candidate_bound = serializers.IntegerField()
    candidates_scored = serializers.IntegerField()


def _explanation(entry: ExplanationEntry) -> dict[str, Any]:
    """One explanation entry in the API's words (query and candidate, not left and right)."""
    data = entry.to_dict()
    return {
        "field": data["field"],
        "level": data["level"],
        "weight": data["weight"],
        "m": data["m"],
        "u": data["u"],
        "query_value": data["left_value"],
        "candidate_value": data["right_value"],
        "term_frequency": data["term_frequency"],
    }


def _masked_explanation(entry: ExplanationEntry) -> dict[str, Any]:
    """An explanation entry without the values compared (a restricted candidate's)."""
    return {
        **_explanation(entry),
        "query_value": None,
        "candidate_value": None,
        "term_frequency": None,
    }


def _candidate(candidate: ScoredCandidate, *, masked: bool) -> dict[str, Any]:
    """One candidate as the API shows it (masked: no compared values)."""
    explain = _masked_explanation if masked else _explanation
    return {
        "patient_id": candidate.patient_id,
        "probability": candidate.probability,
        "weight": candidate.weight,
        "grade": str(candidate.grade),
        "found_by": list(candidate.found_by),
        "explanation": [explain(entry) for entry in candidate.explanation],
        "masked": masked,
    }


def match_output(result: MatchResult, access: Mapping[UUID, PatientAccess]) -> dict[str, Any]:
    """The API representation of a match result; candidates `access` denies are masked."""
    return MatchResponseSerializer(
        {
            "candidates": [
                _candidate(candidate, masked=not access[candidate.patient_id].allowed)
                for candidate in result.candidates
            ],
            "model_version": result.model_version,
            "truncated": result.truncated,
            "candidate_bound": result.candidate_bound,
            "candidates_scored": result.candidates_scored,
        }
    ).data

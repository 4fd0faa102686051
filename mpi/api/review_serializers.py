"""Request and response shapes of the review queue, merge and enterprise-person endpoints."""

from dataclasses import asdict
from typing import Any

from rest_framework import serializers

from mpi.models import (
    CandidateGrade,
    CandidateStatus,
    MatchCandidate,
    MatchDecisionKind,
    MergeStatus,
    PatientMerge,
)
from mpi.selectors.enterprise import EnterprisePerson
from mpi.services.merges import MergePreview
from mpi.services.survivorship import BOTH, FIELDS, LIST_FIELDS, SUBSUMED, SURVIVOR
from registration.api.serializers import (
    AddressSerializer,
    ContactSerializer,
    IdentifierInputSerializer,
    NameSerializer,
    PatientOutputSerializer,
    TelecomSerializer,
    masked_patient_output,
    patient_output,
)
from registration.services.inputs import PatientInput
from tenancy.api.fields import StrictCharField, StrictIntegerField
from tenancy.api.pagination import CursorQuerySerializer

Serializer = serializers.Serializer[Any]


class CandidateQuerySerializer(CursorQuerySerializer):
    """Queue filters (all given must hold); results come most probable first."""

    status = serializers.ChoiceField(
        CandidateStatus.choices, required=False, default=CandidateStatus.OPEN
    )
    grade = serializers.ChoiceField(CandidateGrade.choices, required=False)
    facility = StrictCharField(
        max_length=64, required=False, help_text="Either patient's preferred facility."
    )
    min_age = serializers.IntegerField(required=False, min_value=0, max_value=150)
    max_age = serializers.IntegerField(required=False, min_value=0, max_value=150)
    assignee = StrictCharField(
        max_length=64, required=False, help_text='A steward\'s label, or "-" for unassigned.'
    )


class CandidateSerializer(Serializer):
    """A proposed pair with its evidence and where it stands."""

    id = serializers.UUIDField()
    patient_low_id = serializers.UUIDField()
    patient_high_id = serializers.UUIDField()
    probability = serializers.FloatField()
    weight = serializers.FloatField()
    grade = serializers.ChoiceField(CandidateGrade.choices)
    explanation = serializers.ListField(
        child=serializers.DictField(), help_text="The engine's per-field explanation."
    )
    model_version = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields; the name shadows Field.source only for mypy
    status = serializers.ChoiceField(CandidateStatus.choices)
    auto_linked = serializers.BooleanField()
    assignee = serializers.CharField()
    assigned_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    masked = serializers.BooleanField(
        default=False,
        help_text="A restricted patient of the pair is one the caller may not open: the "
        "explanation keeps each field's level and weight but not the compared values.",
    )


VALUE_KEYS = ("left_value", "right_value", "term_frequency")


def candidate_output(candidate: MatchCandidate, *, masked: bool = False) -> dict[str, Any]:
    """The API representation of a candidate (masked: no compared values in the explanation)."""
    data = dict(CandidateSerializer(candidate).data)
    data["masked"] = masked
    if masked:
        data["explanation"] = [
            {**entry, **dict.fromkeys(VALUE_KEYS)} for entry in data["explanation"]
        ]
    return data


class ClaimSerializer(Serializer):
    """Claim a pair (no assignee: yourself), assign it to someone, or release it ("")."""

    assignee = StrictCharField(max_length=64, required=False, allow_blank=True)


class DecisionSerializer(Serializer):
    """A steward's decision on a pair; "not_duplicate" needs a reason."""

    decision = serializers.ChoiceField(MatchDecisionKind.choices)
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class BulkDecisionSerializer(DecisionSerializer):
    """The same decision for many pairs, all or none."""

    candidate_ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=200
    )


class SideField(serializers.ChoiceField):
    """Which record's value a field keeps (lists may keep both)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__([SURVIVOR, SUBSUMED, BOTH], **kwargs)


class MergePreviewRequestSerializer(Serializer):
    """The pair to merge and the steward's choices."""

    survivor_id = serializers.UUIDField()
    subsumed_id = serializers.UUIDField()
    field_choices = serializers.DictField(
        child=SideField(),
        required=False,
        default=dict,
        help_text="Per record field (" + ", ".join(FIELDS) + "), which record's value the merged "
        "record keeps: survivor or subsumed; lists (" + ", ".join(LIST_FIELDS) + ") may keep "
        "both. Fields left out follow survivorship: the agreed or only value, else the most "
        "recently updated record's; lists most complete; confidentiality most restrictive. "
        "An unknown field, or both for a single value, is a 422.",
    )


class MergeRequestSerializer(MergePreviewRequestSerializer):
    """Execute a merge: the versions read of both records guard against stale decisions."""

    reason = StrictCharField(max_length=500)
    survivor_version = StrictIntegerField(min_value=1)
    subsumed_version = StrictIntegerField(min_value=1)


class MergedRecordSerializer(Serializer):
    """The record a merge would leave on the survivor."""

    names = NameSerializer(many=True)
    gender = serializers.CharField()
    birth_date = serializers.DateField(allow_null=True)
    identifiers = IdentifierInputSerializer(many=True)
    telecoms = TelecomSerializer(many=True)
    addresses = AddressSerializer(many=True)
    contacts = ContactSerializer(many=True)
    language = serializers.CharField()
    marital_status = serializers.CharField()
    confidentiality = serializers.CharField()
    preferred_facility = serializers.CharField()
    mothers_maiden_name = serializers.CharField()


class FieldOutcomeSerializer(Serializer):
    """Where a field's value came from and by which survivorship rule."""

    source = serializers.CharField(help_text="survivor, subsumed, both or same.")  # type: ignore[assignment]  # as above
    rule = serializers.CharField(
        help_text="steward, same, only-value, most-recent, most-complete or most-restrictive."
    )


class MergePreviewSerializer(Serializer):
    """What a merge would produce; nothing was written."""

    survivor_id = serializers.UUIDField()
    subsumed_id = serializers.UUIDField()
    survivor_version = serializers.IntegerField()
    subsumed_version = serializers.IntegerField()
    record = MergedRecordSerializer()
    survivorship = serializers.DictField(child=FieldOutcomeSerializer())


def _record(record: PatientInput) -> dict[str, Any]:
    return asdict(record)


def preview_output(preview: MergePreview) -> dict[str, Any]:
    """The API representation of a merge preview."""
    return MergePreviewSerializer(
        {
            "survivor_id": preview.survivor.id,
            "subsumed_id": preview.subsumed.id,
            "survivor_version": preview.survivor.version,
            "subsumed_version": preview.subsumed.version,
            "record": _record(preview.record),
            "survivorship": {f: o.as_dict() for f, o in preview.outcomes.items()},
        }
    ).data


class MergeSerializer(Serializer):
    """A merge ledger entry (the snapshot itself is kept server-side)."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(MergeStatus.choices)
    survivor_id = serializers.UUIDField()
    subsumed_id = serializers.UUIDField()
    reason = serializers.CharField()
    field_choices = serializers.DictField(child=serializers.CharField())
    survivorship = serializers.DictField(child=FieldOutcomeSerializer())
    survivor_version = serializers.IntegerField(help_text="The survivor's version the merge left.")
    subsumed_version = serializers.IntegerField()
    candidate_id = serializers.UUIDField(allow_null=True)
    merged_by = serializers.CharField()
    merged_at = serializers.DateTimeField()
    unmerged_by = serializers.CharField()
    unmerged_at = serializers.DateTimeField(allow_null=True)
    unmerge_reason = serializers.CharField()
    unmerge_kept = serializers.ListField(
        child=serializers.CharField(),
        help_text="Survivor fields that kept a later edit when the merge was undone.",
    )


def merge_output(merge: PatientMerge) -> dict[str, Any]:
    """The API representation of a merge."""
    return MergeSerializer(merge).data


class EnterprisePersonSerializer(Serializer):
    """One person across records: the golden record (read-only) and every linked record."""

    euid = serializers.UUIDField()
    golden_record = MergedRecordSerializer()
    survivorship = serializers.DictField(child=FieldOutcomeSerializer())
    records = PatientOutputSerializer(many=True)


def enterprise_output(person: EnterprisePerson) -> dict[str, Any]:
    """The API representation of an enterprise person (records the caller may not open are
    masked; the golden record was computed without them)."""
    return {
        "euid": str(person.euid),
        "golden_record": MergedRecordSerializer(_record(person.golden)).data,
        "survivorship": {f: o.as_dict() for f, o in person.outcomes.items()},
        "records": [
            patient_output(p) if person.access_of(p).allowed else masked_patient_output(p)
            for p in person.records
        ],
    }


class EnterpriseLinkSerializer(Serializer):
    """Two records of one person to keep separate but link under one EUID."""

    patient_id = serializers.UUIDField()
    other_patient_id = serializers.UUIDField()


class EnterpriseLinkResultSerializer(Serializer):
    """The EUID both records now share."""

    euid = serializers.UUIDField()

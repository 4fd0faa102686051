"""Request and response shapes of the patient API, and their mapping onto service inputs."""

from typing import Any

from rest_framework import serializers

from registration.models import (
    AddressType,
    AddressUse,
    Confidentiality,
    ContactRelationship,
    Gender,
    IdentifierUse,
    MaritalStatus,
    NameUse,
    Patient,
    PatientLinkType,
    TelecomSystem,
    TelecomUse,
    VitalStatus,
)
from registration.services.inputs import (
    AddressInput,
    ContactInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from registration.services.validation import LANGUAGE_PATTERN, SYSTEM_PATTERN
from tenancy.api.fields import StrictCharField, StrictIntegerField, StrictRegexField
from tenancy.api.pagination import CursorQuerySerializer

Serializer = serializers.Serializer[Any]


def _items(child: Serializer, max_items: int) -> serializers.ListField:
    return serializers.ListField(child=child, required=False, default=list, max_length=max_items)


def _texts(max_length: int, max_items: int) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=max_length, allow_blank=False),
        max_length=max_items,
        required=False,
        default=list,
    )


class NameSerializer(Serializer):
    """A human name."""

    use = serializers.ChoiceField(NameUse.choices, default=NameUse.OFFICIAL)
    family = StrictCharField(max_length=100, allow_blank=True, required=False, default="")
    given = _texts(100, 5)
    prefix = _texts(30, 3)
    suffix = _texts(30, 3)
    period_start = serializers.DateField(required=False, allow_null=True, default=None)
    period_end = serializers.DateField(required=False, allow_null=True, default=None)


class IdentifierInputSerializer(Serializer):
    """An identifier as a caller sends it."""

    system = StrictRegexField(
        SYSTEM_PATTERN,
        max_length=255,
        help_text="Assigning authority: urn:oid:, urn:uuid: or http(s):// URI.",
    )
    value = StrictCharField(max_length=100, trim_whitespace=False)
    type_code = StrictCharField(max_length=10, allow_blank=True, required=False, default="")
    use = serializers.ChoiceField(IdentifierUse.choices, default=IdentifierUse.USUAL)
    period_start = serializers.DateField(required=False, allow_null=True, default=None)
    period_end = serializers.DateField(required=False, allow_null=True, default=None)


class IdentifierOutputSerializer(IdentifierInputSerializer):
    """An identifier as stored, with its id and retirement."""

    id = StrictIntegerField()
    retired_at = serializers.DateTimeField(allow_null=True)


class TelecomSerializer(Serializer):
    """A contact point."""

    system = serializers.ChoiceField(TelecomSystem.choices)
    value = StrictCharField(max_length=255)
    use = serializers.ChoiceField(TelecomUse.choices, allow_blank=True, required=False, default="")
    rank = StrictIntegerField(
        min_value=1, max_value=100, required=False, allow_null=True, default=None
    )


class AddressSerializer(Serializer):
    """An address."""

    use = serializers.ChoiceField(AddressUse.choices, allow_blank=True, required=False, default="")
    type = serializers.ChoiceField(
        AddressType.choices, allow_blank=True, required=False, default=""
    )
    lines = _texts(200, 4)
    city = StrictCharField(max_length=100, allow_blank=True, required=False, default="")
    district = StrictCharField(max_length=100, allow_blank=True, required=False, default="")
    state = StrictCharField(max_length=100, allow_blank=True, required=False, default="")
    postal_code = StrictCharField(max_length=20, allow_blank=True, required=False, default="")
    country = StrictRegexField(
        r"^[A-Z]{2}$", allow_blank=True, required=False, default="", help_text="ISO 3166 alpha-2."
    )
    period_start = serializers.DateField(required=False, allow_null=True, default=None)
    period_end = serializers.DateField(required=False, allow_null=True, default=None)


class ContactSerializer(Serializer):
    """Someone to contact about the patient."""

    relationship = serializers.ChoiceField(ContactRelationship.choices)
    family = StrictCharField(max_length=100, allow_blank=True, required=False, default="")
    given = _texts(100, 5)
    phone = StrictCharField(max_length=50, allow_blank=True, required=False, default="")
    email = StrictCharField(max_length=254, allow_blank=True, required=False, default="")
    organization = StrictCharField(max_length=200, allow_blank=True, required=False, default="")


class PatientInputSerializer(Serializer):
    """A whole patient record as a caller sends it (register, replace)."""

    names = serializers.ListField(child=NameSerializer(), min_length=1, max_length=10)
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
    contacts = serializers.ListField(
        child=ContactSerializer(), required=False, default=list, max_length=10
    )
    language = StrictRegexField(
        LANGUAGE_PATTERN,
        max_length=35,
        allow_blank=True,
        required=False,
        default="",
        help_text="BCP-47 tag.",
    )
    marital_status = serializers.ChoiceField(
        MaritalStatus.choices, allow_blank=True, required=False, default=""
    )
    confidentiality = serializers.ChoiceField(
        Confidentiality.choices, default=Confidentiality.NORMAL
    )
    preferred_facility = StrictCharField(
        max_length=64, allow_blank=True, required=False, default=""
    )
    mothers_maiden_name = StrictCharField(
        max_length=100,
        allow_blank=True,
        required=False,
        default="",
        help_text="Mother's maiden name (FHIR extension patient-mothersMaidenName).",
    )


class PatientPatchSerializer(PatientInputSerializer):
    """Some top-level fields of a patient record; lists given replace the stored list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)


class DuplicateOverrideSerializer(Serializer):
    """Register even though likely duplicates exist, and say why."""

    reason = StrictCharField(max_length=500)


class PatientRegisterSerializer(PatientInputSerializer):
    """Registration body: the record, plus an override when duplicates were shown."""

    duplicate_override = DuplicateOverrideSerializer(required=False)


class ReasonSerializer(Serializer):
    """A reason for a state change (deactivation, identifier retirement)."""

    reason = StrictCharField(max_length=500)


class VitalStatusSummarySerializer(Serializer):
    """The current vital status inside the patient representation (read-only; changed through
    /patients/{id}/vital-status)."""

    status = serializers.ChoiceField(VitalStatus.choices, source="vital_status")
    deceased = serializers.SerializerMethodField()
    deceased_date = serializers.DateField(allow_null=True)
    deceased_date_precision = StrictCharField()
    verification = StrictCharField(source="vital_status_verification")

    def get_deceased(self, patient: Patient) -> bool:
        """True when a death is recorded (reported or verified)."""
        return patient.vital_status == VitalStatus.DECEASED


class PatientLinkSerializer(Serializer):
    """A link to another patient record (FHIR Patient.link): replaced-by on a record merged
    away (always the final survivor), replaces on the survivor, seealso between linked records."""

    type = serializers.ChoiceField(PatientLinkType.choices)
    other_id = serializers.UUIDField()


class PatientOutputSerializer(Serializer):
    """A patient record as the API shows it."""

    id = serializers.UUIDField()
    version = StrictIntegerField()
    active = serializers.BooleanField()
    names = NameSerializer(many=True)
    gender = StrictCharField()
    birth_date = serializers.DateField(allow_null=True)
    identifiers = IdentifierOutputSerializer(many=True)
    telecoms = TelecomSerializer(many=True)
    addresses = AddressSerializer(many=True)
    contacts = ContactSerializer(many=True)
    language = StrictCharField()
    marital_status = StrictCharField()
    confidentiality = StrictCharField()
    preferred_facility = StrictCharField()
    mothers_maiden_name = StrictCharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    deactivated_at = serializers.DateTimeField(allow_null=True)
    vital_status = VitalStatusSummarySerializer(source="*", read_only=True)
    enterprise_id = serializers.UUIDField(
        help_text="The enterprise person (EUID) this record belongs to; shared by linked and "
        "merged records."
    )
    links = PatientLinkSerializer(many=True)
    masked = serializers.BooleanField(
        default=False,
        help_text=(
            "True for a restricted patient the caller may not open: only `id`, `active`, "
            "`confidentiality` and the timestamps are real; identifying fields are empty."
        ),
    )


class PatientSearchSerializer(CursorQuerySerializer):
    """Query parameters of the patient search (all given criteria must hold)."""

    name = StrictCharField(
        max_length=200, required=False, help_text="Words that start a family or given name."
    )
    family = StrictCharField(max_length=100, required=False, help_text="Start of the family name.")
    given = StrictCharField(max_length=100, required=False, help_text="Start of the given name.")
    birth_date = serializers.DateField(required=False)
    identifier = StrictCharField(
        max_length=360, required=False, help_text="`value` or `system|value`."
    )
    phone = StrictCharField(max_length=50, required=False)
    postal_code = StrictCharField(max_length=20, required=False)
    active = serializers.BooleanField(required=False)


def _name(data: dict[str, Any]) -> NameInput:
    return NameInput(
        family=data.get("family", ""),
        given=tuple(data.get("given", [])),
        use=data.get("use", NameUse.OFFICIAL),
        prefix=tuple(data.get("prefix", [])),
        suffix=tuple(data.get("suffix", [])),
        period_start=data.get("period_start"),
        period_end=data.get("period_end"),
    )


def identifier_input(data: dict[str, Any]) -> IdentifierInput:
    """Service input from a validated identifier."""
    return IdentifierInput(
        system=data["system"],
        value=data["value"],
        type_code=data.get("type_code", ""),
        use=data.get("use", IdentifierUse.USUAL),
        period_start=data.get("period_start"),
        period_end=data.get("period_end"),
    )


_LIST_MAPPERS: dict[str, Any] = {
    "names": _name,
    "identifiers": identifier_input,
    "telecoms": lambda d: TelecomInput(**d),
    "addresses": lambda d: AddressInput(**{**d, "lines": tuple(d.get("lines", []))}),
    "contacts": lambda d: ContactInput(**{**d, "given": tuple(d.get("given", []))}),
}


def patient_changes(validated: dict[str, Any]) -> dict[str, Any]:
    """Service-input values for the fields present in validated data (PATCH uses it as is)."""
    changes: dict[str, Any] = {}
    for key, value in validated.items():
        if key == "duplicate_override":
            continue
        mapper = _LIST_MAPPERS.get(key)
        changes[key] = tuple(mapper(item) for item in value) if mapper else value
    return changes


def patient_input(validated: dict[str, Any]) -> PatientInput:
    """Service input from a validated whole record."""
    return PatientInput(**patient_changes(validated))


# Rendering reads the serializer tree and never changes it, so one tree serves every call.
# A fresh PatientOutputSerializer per patient deep-copies its ~70 declared fields first: 14% of
# a registration's time in make bench's profile, and once per row of a search page.
_PATIENT_OUTPUT = PatientOutputSerializer()


def patient_output(patient: Patient) -> dict[str, Any]:
    """The API representation of a patient loaded with its children."""
    return dict(_PATIENT_OUTPUT.to_representation(patient))


def masked_patient_output(patient: Patient) -> dict[str, Any]:
    """A restricted patient as a caller without a grant sees it: that it exists, nothing more."""
    return {
        "id": str(patient.id),
        "version": patient.version,
        "active": patient.active,
        "names": [],
        "gender": "unknown",
        "birth_date": None,
        "identifiers": [],
        "telecoms": [],
        "addresses": [],
        "contacts": [],
        "language": "",
        "marital_status": "",
        "confidentiality": patient.confidentiality,
        "preferred_facility": "",
        "mothers_maiden_name": "",
        "created_at": serializers.DateTimeField().to_representation(patient.created_at),
        "updated_at": serializers.DateTimeField().to_representation(patient.updated_at),
        "deactivated_at": None,
        "masked": True,
    }

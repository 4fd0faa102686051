"""The patient record: one row per patient plus its names, identifiers, telecoms, addresses
and contacts. Search columns (`*_folded`, `*_phonetic`, `birth_year`, `*_normalized`,
`sort_name`) are derived by the registration services on every write, never by signals or
save()."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.functions import RandomUUID
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Lower, Upper

from registration.models.codes import (
    AddressType,
    AddressUse,
    CheckDigitAlgorithm,
    Confidentiality,
    ContactRelationship,
    DatePrecision,
    Gender,
    IdentifierUse,
    MaritalStatus,
    NameUse,
    TelecomSystem,
    TelecomUse,
    Verification,
    VitalStatus,
)
from tenancy.models import TenantOwnedModel


class Patient(TenantOwnedModel):
    """Who a patient is, in one tenant. Never deleted: deactivated instead."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    active = models.BooleanField(default=True)
    gender = models.CharField(max_length=16, choices=Gender.choices, default=Gender.UNKNOWN)
    birth_date = models.DateField(null=True, blank=True)
    language = models.CharField(max_length=35, blank=True)
    marital_status = models.CharField(max_length=3, choices=MaritalStatus.choices, blank=True)
    confidentiality = models.CharField(
        max_length=16, choices=Confidentiality.choices, default=Confidentiality.NORMAL
    )
    preferred_facility = models.CharField(max_length=64, blank=True)
    # FHIR's patient-mothersMaidenName extension; PDQm searches it. A database default too,
    # so that bulk loads' INSERT … SELECT (and the previous release's INSERTs) need not name it.
    mothers_maiden_name = models.CharField(max_length=100, blank=True, default="", db_default="")
    version = models.PositiveIntegerField(default=1)
    sort_name = models.CharField(max_length=220, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.CharField(max_length=64, blank=True)
    updated_by = models.CharField(max_length=64, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivation_reason = models.CharField(max_length=500, blank=True)
    # The current vital status, a cache of the latest VitalStatusRecord (the history is there).
    # Database defaults too, so that bulk loads' INSERT … SELECT need not name them.
    vital_status = models.CharField(
        max_length=16,
        choices=VitalStatus.choices,
        default=VitalStatus.ALIVE,
        db_default=VitalStatus.ALIVE,
    )
    deceased_date = models.DateField(null=True, blank=True)
    deceased_date_precision = models.CharField(
        max_length=8, choices=DatePrecision.choices, blank=True, default="", db_default=""
    )
    vital_status_verification = models.CharField(
        max_length=16, choices=Verification.choices, blank=True, default="", db_default=""
    )
    # The enterprise person (EUID) this record belongs to. Every record gets its own at creation
    # (a database default, so bulk COPY loads get one too); the MPI re-points it when it links
    # records of one person or merges them. Registration never interprets it.
    enterprise_id = models.UUIDField(db_default=RandomUUID(), editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "sort_name", "id"], name="patient_sort_idx"),
            models.Index(fields=["tenant", "birth_date"], name="patient_birth_idx"),
            models.Index(
                fields=["tenant", "vital_status_verification"],
                condition=models.Q(vital_status=VitalStatus.DECEASED),
                name="patient_deceased_idx",
            ),
            models.Index(fields=["tenant", "enterprise_id"], name="patient_enterprise_idx"),
            models.Index(
                Upper("mothers_maiden_name"),
                "tenant",
                condition=~models.Q(mothers_maiden_name=""),
                name="patient_maiden_name_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Patient {self.id}"


# Birth-year buckets of the partial trigram indexes on names: a fuzzy search for a name born
# within a few years reads one bucket's posting lists instead of the whole table's (the
# matcher's similar-names pass; about 8x faster at a million patients, see docs/MATCHING.md).
TRIGRAM_BIRTH_YEAR_BUCKETS: tuple[tuple[int, int], ...] = (
    (0, 1920),
    *((year, year + 10) for year in range(1920, 2020, 10)),
    (2020, 10000),
)


def _bucketed_trigram_indexes() -> list[GinIndex]:
    """Per birth-year bucket (and for no year), one partial GIN trigram index on both names.

    Both names in one index, so that "family similar AND given similar" is a single index
    scan (no planner choice between BitmapAnd and a heap recheck of every "Maria" born in the
    decade). On `lower(...)` of names that are lower-case already (same values) so that only
    a query written against `lower(...)` uses them, and the planner cannot swap in the
    full-table index of the plain column, whose posting lists are ~10x longer.
    """
    columns = (
        OpClass(Lower("family_folded"), name="gin_trgm_ops"),
        OpClass(Lower("given_folded"), name="gin_trgm_ops"),
    )
    return [
        *(
            GinIndex(
                *columns,
                condition=models.Q(birth_year__gte=low, birth_year__lt=high),
                name=f"name_trgm_{low}",
            )
            for low, high in TRIGRAM_BIRTH_YEAR_BUCKETS
        ),
        GinIndex(*columns, condition=models.Q(birth_year__isnull=True), name="name_trgm_noyear"),
    ]


class PatientName(TenantOwnedModel):
    """One of a patient's names (official, maiden, nickname, …)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="names")
    position = models.PositiveSmallIntegerField(default=0)
    use = models.CharField(max_length=16, choices=NameUse.choices, default=NameUse.OFFICIAL)
    family = models.CharField(max_length=100, blank=True)
    given = ArrayField(models.CharField(max_length=100), default=list, blank=True, size=5)
    prefix = ArrayField(models.CharField(max_length=30), default=list, blank=True, size=3)
    suffix = ArrayField(models.CharField(max_length=30), default=list, blank=True, size=3)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    family_folded = models.CharField(max_length=100, blank=True)
    given_folded = models.CharField(max_length=100, blank=True)
    # Every given name folded, space-separated: FHIR `given` matches any given name (the
    # columns above hold the first one, which the matcher's keys are built on).
    given_names_folded = models.CharField(max_length=520, blank=True, default="", db_default="")
    # Matching keys (see docs/MATCHING.md): Metaphone of the family and first given name, and
    # the patient's birth year copied onto each name so one table answers a blocking pass.
    family_phonetic = models.CharField(max_length=40, blank=True)
    given_phonetic = models.CharField(max_length=40, blank=True)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        indexes = [
            models.Index(
                fields=["tenant", "family_phonetic", "birth_year"], name="name_phonetic_year_idx"
            ),
            models.Index(
                fields=["tenant", "family_folded"],
                opclasses=["uuid_ops", "varchar_pattern_ops"],
                name="name_family_prefix_idx",
            ),
            models.Index(
                fields=["tenant", "given_folded"],
                opclasses=["uuid_ops", "varchar_pattern_ops"],
                name="name_given_prefix_idx",
            ),
            GinIndex(OpClass("family_folded", name="gin_trgm_ops"), name="name_family_trgm_idx"),
            GinIndex(OpClass("given_folded", name="gin_trgm_ops"), name="name_given_trgm_idx"),
            GinIndex(
                OpClass("given_names_folded", name="gin_trgm_ops"), name="name_givens_trgm_idx"
            ),
            *_bucketed_trigram_indexes(),
        ]

    def __str__(self) -> str:
        return f"Name {self.pk} of {self.patient_id}"


class PatientIdentifier(TenantOwnedModel):
    """An identifier assigned by an authority (`system`): MRN, SSN, driver's licence, …

    Unique per tenant + system + value among active (not retired) identifiers.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers")
    system = models.CharField(max_length=255)
    value = models.CharField(max_length=100)
    type_code = models.CharField(max_length=10, blank=True)
    use = models.CharField(
        max_length=16, choices=IdentifierUse.choices, default=IdentifierUse.USUAL
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "system", "value"],
                condition=models.Q(retired_at__isnull=True),
                name="identifier_unique_active",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "value"], name="identifier_value_idx"),
        ]

    def __str__(self) -> str:
        return f"Identifier {self.pk} ({self.system})"


class IdentifierDomain(TenantOwnedModel):
    """An assigning authority the tenant knows, with the rules its values must follow."""

    system = models.CharField(max_length=255)
    name = models.CharField(max_length=100)
    type_code = models.CharField(max_length=10, blank=True)
    format_regex = models.CharField(max_length=200, blank=True)
    check_digit = models.CharField(
        max_length=16, choices=CheckDigitAlgorithm.choices, default=CheckDigitAlgorithm.NONE
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "system"], name="identifier_domain_unique")
        ]

    def __str__(self) -> str:
        return self.name


class PatientTelecom(TenantOwnedModel):
    """A phone number, email address or other contact point of the patient."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="telecoms")
    system = models.CharField(max_length=16, choices=TelecomSystem.choices)
    value = models.CharField(max_length=255)
    use = models.CharField(max_length=16, choices=TelecomUse.choices, blank=True)
    rank = models.PositiveSmallIntegerField(null=True, blank=True)
    value_normalized = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["tenant", "value_normalized"], name="telecom_value_idx"),
        ]

    def __str__(self) -> str:
        return f"Telecom {self.pk} ({self.system})"


class PatientAddress(TenantOwnedModel):
    """A postal or physical address of the patient."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="addresses")
    use = models.CharField(max_length=16, choices=AddressUse.choices, blank=True)
    type = models.CharField(max_length=16, choices=AddressType.choices, blank=True)
    lines = ArrayField(models.CharField(max_length=200), default=list, blank=True, size=4)
    city = models.CharField(max_length=100, blank=True)
    district = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    postal_code_normalized = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["tenant", "postal_code_normalized"], name="address_postal_idx"),
            models.Index(Upper("city"), "tenant", name="address_city_idx"),
        ]

    def __str__(self) -> str:
        return f"Address {self.pk}"


class PatientContact(TenantOwnedModel):
    """Someone to contact about the patient (next of kin, emergency contact, …)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="contacts")
    relationship = models.CharField(max_length=2, choices=ContactRelationship.choices)
    family = models.CharField(max_length=100, blank=True)
    given = ArrayField(models.CharField(max_length=100), default=list, blank=True, size=5)
    phone = models.CharField(max_length=50, blank=True)
    email = models.CharField(max_length=254, blank=True)
    organization = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Contact {self.pk}"


class PatientLinkType(models.TextChoices):
    """How a record relates to another (FHIR Patient.link.type)."""

    REPLACED_BY = "replaced-by", "Replaced by"
    REPLACES = "replaces", "Replaces"
    REFER = "refer", "Refer"
    SEEALSO = "seealso", "See also"


class PatientLink(TenantOwnedModel):
    """A link from one patient record to another, rendered as FHIR Patient.link.

    Written by merges (replaced-by on the subsumed record, replaces on the survivor) and kept
    pointing at the final survivor when merges chain. `merge_id` names the merge ledger entry
    that created the link (the MPI owns the ledger; registration only keeps the id).
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="links")
    other = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=16, choices=PatientLinkType.choices)
    merge_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "patient", "other", "type"], name="patient_link_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(patient=models.F("other")), name="patient_link_not_self"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "other"], name="patient_link_other_idx")]

    def __str__(self) -> str:
        return f"Link {self.pk} ({self.type})"

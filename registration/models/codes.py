"""Code systems of the patient record, taken from FHIR R4 value sets (and HL7 v2/v3 where FHIR
binds to them), so that REST, FHIR and the console speak the same codes."""

from django.db import models


class Gender(models.TextChoices):
    """FHIR administrative-gender."""

    MALE = "male", "Male"
    FEMALE = "female", "Female"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class MaritalStatus(models.TextChoices):
    """HL7 v3 MaritalStatus (FHIR marital-status)."""

    ANNULLED = "A", "Annulled"
    DIVORCED = "D", "Divorced"
    INTERLOCUTORY = "I", "Interlocutory"
    LEGALLY_SEPARATED = "L", "Legally separated"
    MARRIED = "M", "Married"
    POLYGAMOUS = "P", "Polygamous"
    NEVER_MARRIED = "S", "Never married"
    DOMESTIC_PARTNER = "T", "Domestic partner"
    UNMARRIED = "U", "Unmarried"
    WIDOWED = "W", "Widowed"
    UNKNOWN = "UNK", "Unknown"


class Confidentiality(models.TextChoices):
    """Who may see the record: everyone with a role, or only those with a grant."""

    NORMAL = "normal", "Normal"
    RESTRICTED = "restricted", "Restricted"


class NameUse(models.TextChoices):
    """FHIR name-use, plus `maiden` as FHIR has it."""

    OFFICIAL = "official", "Official"
    USUAL = "usual", "Usual"
    MAIDEN = "maiden", "Maiden"
    NICKNAME = "nickname", "Nickname"
    OLD = "old", "Old"
    TEMP = "temp", "Temporary"
    ANONYMOUS = "anonymous", "Anonymous"


class IdentifierUse(models.TextChoices):
    """FHIR identifier-use."""

    USUAL = "usual", "Usual"
    OFFICIAL = "official", "Official"
    TEMP = "temp", "Temporary"
    SECONDARY = "secondary", "Secondary"
    OLD = "old", "Old"


class TelecomSystem(models.TextChoices):
    """FHIR contact-point-system."""

    PHONE = "phone", "Phone"
    FAX = "fax", "Fax"
    EMAIL = "email", "Email"
    PAGER = "pager", "Pager"
    URL = "url", "URL"
    SMS = "sms", "SMS"
    OTHER = "other", "Other"


class TelecomUse(models.TextChoices):
    """FHIR contact-point-use."""

    HOME = "home", "Home"
    WORK = "work", "Work"
    TEMP = "temp", "Temporary"
    OLD = "old", "Old"
    MOBILE = "mobile", "Mobile"


class AddressUse(models.TextChoices):
    """FHIR address-use."""

    HOME = "home", "Home"
    WORK = "work", "Work"
    TEMP = "temp", "Temporary"
    OLD = "old", "Old"
    BILLING = "billing", "Billing"


class AddressType(models.TextChoices):
    """FHIR address-type."""

    POSTAL = "postal", "Postal"
    PHYSICAL = "physical", "Physical"
    BOTH = "both", "Both"


class ContactRelationship(models.TextChoices):
    """HL7 v2 table 0131 (FHIR patient-contactrelationship)."""

    EMERGENCY_CONTACT = "C", "Emergency contact"
    EMPLOYER = "E", "Employer"
    FEDERAL_AGENCY = "F", "Federal agency"
    INSURANCE_COMPANY = "I", "Insurance company"
    NEXT_OF_KIN = "N", "Next of kin"
    STATE_AGENCY = "S", "State agency"
    UNKNOWN = "U", "Unknown"


class CheckDigitAlgorithm(models.TextChoices):
    """How an identifier domain's values carry a check digit."""

    NONE = "none", "None"
    LUHN = "luhn", "Luhn (mod 10)"


class VitalStatus(models.TextChoices):
    """Whether the patient is alive (FHIR: deceased[x] absent/false, true, or unknown)."""

    ALIVE = "alive", "Alive"
    DECEASED = "deceased", "Deceased"
    UNKNOWN = "unknown", "Unknown"


class DatePrecision(models.TextChoices):
    """How much of a date of death is known; the stored date is the period's first day."""

    DAY = "day", "Day"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class Verification(models.TextChoices):
    """Where a death claim stands: reported, confirmed by a steward, or refuted."""

    REPORTED = "reported", "Reported"
    VERIFIED = "verified", "Verified"
    REFUTED = "refuted", "Refuted"

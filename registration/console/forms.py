"""Forms of the front-desk console.

They only parse what a browser sends (a date that is a date, a code from a list) into the
services' input types, and put the services' field errors back next to the right inputs. Every
rule of a patient record belongs to the services (registration.services.validation), so the
console and the REST API accept and refuse exactly the same records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django import forms
from django.db.models import TextChoices

from registration.models import (
    AddressType,
    AddressUse,
    BreakGlassReason,
    Confidentiality,
    ContactRelationship,
    DatePrecision,
    Gender,
    IdentifierUse,
    MaritalStatus,
    NameUse,
    TelecomSystem,
    TelecomUse,
    VitalStatus,
    VitalStatusSource,
)
from registration.selectors.patients import PatientSearch
from registration.services.inputs import (
    AddressInput,
    ContactInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from registration.services.validation import IDENTIFIER_TYPE_CODES
from tenancy.errors import FieldError

COLLECTIONS = ("names", "identifiers", "telecoms", "addresses", "contacts")


def _choices(codes: type[TextChoices], *, blank: bool = False) -> list[tuple[str, str]]:
    options: list[tuple[str, str]] = [(str(value), str(label)) for value, label in codes.choices]
    return [("", "—"), *options] if blank else options


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def split_words(text: str) -> tuple[str, ...]:
    """Given names, prefixes, suffixes typed in one box: comma-separated when the text has a
    comma (so "Mary Ann, Louise" keeps "Mary Ann" whole), else space-separated."""
    parts = text.split(",") if "," in text else text.split()
    return tuple(part.strip() for part in parts if part.strip())


def join_words(words: Sequence[str]) -> str:
    """The inverse of split_words, so that an unchanged record round-trips unchanged."""
    separator = ", " if any(" " in word for word in words) else " "
    return separator.join(words)


def split_lines(text: str) -> tuple[str, ...]:
    """Address lines: one per line of the text box."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _date(data: Mapping[str, Any], name: str) -> date | None:
    value = data.get(name)
    return value if isinstance(value, date) else None


class RowForm(forms.Form):
    """One row of a repeating section; a row whose text boxes are all empty is left out."""

    content_fields: ClassVar[tuple[str, ...]] = ()
    error_fields: ClassVar[dict[str, str]] = {}  # service field name -> box name, where they differ

    def is_blank(self) -> bool:
        """True when the user typed nothing into this row (choice boxes alone do not count)."""
        return all(not str(self[name].value() or "").strip() for name in self.content_fields)

    def is_deleted(self) -> bool:
        """True when the row's "remove" box is ticked (edit form only)."""
        return "DELETE" in self.fields and bool(self["DELETE"].value())

    def to_input(self) -> Any:
        """The row as the services' input dataclass."""
        raise NotImplementedError

    @classmethod
    def initial_of(cls, item: Any) -> dict[str, Any]:
        """Initial values of a row showing `item` (an input dataclass)."""
        raise NotImplementedError


class NameForm(RowForm):
    """A name of the patient."""

    content_fields = ("family", "given", "prefixes", "suffixes")
    # `prefix` is taken by Django (the form's own prefix): the boxes are named in the plural.
    error_fields = {"prefix": "prefixes", "suffix": "suffixes"}
    use = forms.ChoiceField(choices=_choices(NameUse), initial=NameUse.OFFICIAL)
    family = forms.CharField(required=False, label="Family name")
    given = forms.CharField(required=False, label="Given names")
    prefixes = forms.CharField(required=False, label="Prefix")
    suffixes = forms.CharField(required=False, label="Suffix")
    period_start = forms.DateField(required=False, widget=_date_input(), label="From")
    period_end = forms.DateField(required=False, widget=_date_input(), label="Until")

    def to_input(self) -> NameInput:
        data = self.cleaned_data
        return NameInput(
            family=_text(data, "family"),
            given=split_words(_text(data, "given")),
            use=_text(data, "use") or NameUse.OFFICIAL,
            prefix=split_words(_text(data, "prefixes")),
            suffix=split_words(_text(data, "suffixes")),
            period_start=_date(data, "period_start"),
            period_end=_date(data, "period_end"),
        )

    @classmethod
    def initial_of(cls, item: NameInput) -> dict[str, Any]:
        return {
            "use": item.use,
            "family": item.family,
            "given": join_words(item.given),
            "prefixes": join_words(item.prefix),
            "suffixes": join_words(item.suffix),
            "period_start": item.period_start,
            "period_end": item.period_end,
        }


class IdentifierForm(RowForm):
    """An identifier and the authority that assigned it."""

    content_fields = ("system", "value")
    system = forms.CharField(
        required=False,
        label="Assigning authority (system)",
        widget=forms.TextInput(attrs={"list": "identifier-domains", "size": 30}),
    )
    value = forms.CharField(required=False)
    type_code = forms.ChoiceField(
        required=False,
        label="Type",
        choices=[("", "—"), *((code, code) for code in sorted(IDENTIFIER_TYPE_CODES))],
    )
    use = forms.ChoiceField(choices=_choices(IdentifierUse), initial=IdentifierUse.USUAL)
    period_start = forms.DateField(required=False, widget=_date_input(), label="From")
    period_end = forms.DateField(required=False, widget=_date_input(), label="Until")

    def to_input(self) -> IdentifierInput:
        data = self.cleaned_data
        return IdentifierInput(
            system=_text(data, "system"),
            value=_text(data, "value"),
            type_code=_text(data, "type_code"),
            use=_text(data, "use") or IdentifierUse.USUAL,
            period_start=_date(data, "period_start"),
            period_end=_date(data, "period_end"),
        )

    @classmethod
    def initial_of(cls, item: IdentifierInput) -> dict[str, Any]:
        return {
            "system": item.system,
            "value": item.value,
            "type_code": item.type_code,
            "use": item.use,
            "period_start": item.period_start,
            "period_end": item.period_end,
        }


class TelecomForm(RowForm):
    """A phone number, email address or other contact point."""

    content_fields = ("value",)
    system = forms.ChoiceField(choices=_choices(TelecomSystem), initial=TelecomSystem.PHONE)
    value = forms.CharField(required=False)
    use = forms.ChoiceField(required=False, choices=_choices(TelecomUse, blank=True))
    rank = forms.IntegerField(required=False, widget=forms.NumberInput(attrs={"size": 3}))

    def to_input(self) -> TelecomInput:
        data = self.cleaned_data
        rank = data.get("rank")
        return TelecomInput(
            system=_text(data, "system"),
            value=_text(data, "value"),
            use=_text(data, "use"),
            rank=rank if isinstance(rank, int) else None,
        )

    @classmethod
    def initial_of(cls, item: TelecomInput) -> dict[str, Any]:
        return {"system": item.system, "value": item.value, "use": item.use, "rank": item.rank}


class AddressForm(RowForm):
    """A postal or physical address."""

    content_fields = ("lines", "city", "district", "state", "postal_code", "country")
    lines = forms.CharField(
        required=False,
        label="Street lines",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 30}),
        help_text="One line per line.",
    )
    city = forms.CharField(required=False)
    district = forms.CharField(required=False)
    state = forms.CharField(required=False)
    postal_code = forms.CharField(required=False, label="Postal code")
    country = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"size": 3}), help_text="e.g. US"
    )
    use = forms.ChoiceField(required=False, choices=_choices(AddressUse, blank=True))
    type = forms.ChoiceField(required=False, choices=_choices(AddressType, blank=True))
    period_start = forms.DateField(required=False, widget=_date_input(), label="From")
    period_end = forms.DateField(required=False, widget=_date_input(), label="Until")

    def to_input(self) -> AddressInput:
        data = self.cleaned_data
        return AddressInput(
            lines=split_lines(_text(data, "lines")),
            city=_text(data, "city"),
            district=_text(data, "district"),
            state=_text(data, "state"),
            postal_code=_text(data, "postal_code"),
            country=_text(data, "country"),
            use=_text(data, "use"),
            type=_text(data, "type"),
            period_start=_date(data, "period_start"),
            period_end=_date(data, "period_end"),
        )

    @classmethod
    def initial_of(cls, item: AddressInput) -> dict[str, Any]:
        return {
            "lines": "\n".join(item.lines),
            "city": item.city,
            "district": item.district,
            "state": item.state,
            "postal_code": item.postal_code,
            "country": item.country,
            "use": item.use,
            "type": item.type,
            "period_start": item.period_start,
            "period_end": item.period_end,
        }


class ContactForm(RowForm):
    """Someone to contact about the patient."""

    content_fields = ("family", "given", "phone", "email", "organization")
    relationship = forms.ChoiceField(
        choices=_choices(ContactRelationship), initial=ContactRelationship.EMERGENCY_CONTACT
    )
    family = forms.CharField(required=False, label="Family name")
    given = forms.CharField(required=False, label="Given names")
    phone = forms.CharField(required=False)
    email = forms.CharField(required=False)
    organization = forms.CharField(required=False)

    def to_input(self) -> ContactInput:
        data = self.cleaned_data
        return ContactInput(
            relationship=_text(data, "relationship"),
            family=_text(data, "family"),
            given=split_words(_text(data, "given")),
            phone=_text(data, "phone"),
            email=_text(data, "email"),
            organization=_text(data, "organization"),
        )

    @classmethod
    def initial_of(cls, item: ContactInput) -> dict[str, Any]:
        return {
            "relationship": item.relationship,
            "family": item.family,
            "given": join_words(item.given),
            "phone": item.phone,
            "email": item.email,
            "organization": item.organization,
        }


ROW_FORMS: dict[str, type[RowForm]] = {
    "names": NameForm,
    "identifiers": IdentifierForm,
    "telecoms": TelecomForm,
    "addresses": AddressForm,
    "contacts": ContactForm,
}
SECTION_TITLES = {
    "names": "Names",
    "identifiers": "Identifiers",
    "telecoms": "Phone and email",
    "addresses": "Addresses",
    "contacts": "Contacts (next of kin, emergency)",
}


if TYPE_CHECKING:
    _RowFormSet = forms.BaseFormSet[RowForm]
else:  # BaseFormSet is generic only in the type stubs
    _RowFormSet = forms.BaseFormSet


class SectionFormSet(_RowFormSet):
    """A repeating section; its rows' delete boxes say "Remove" (a row is removed from the
    record, the record itself is never deleted)."""

    def add_fields(self, form: RowForm, index: int | None) -> None:
        """Relabel the formset's DELETE box."""
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove"


# Empty rows offered on a new registration: two identifiers (e.g. MRN and a national id).
_EXTRA_ROWS = {"names": 1, "identifiers": 2, "telecoms": 1, "addresses": 1, "contacts": 1}


class PatientForm(forms.Form):
    """The patient's single-valued fields."""

    birth_date = forms.DateField(required=False, widget=_date_input())
    gender = forms.ChoiceField(choices=_choices(Gender), initial=Gender.UNKNOWN)
    language = forms.CharField(required=False, help_text="e.g. en, es-MX")
    marital_status = forms.ChoiceField(required=False, choices=_choices(MaritalStatus, blank=True))
    confidentiality = forms.ChoiceField(
        choices=_choices(Confidentiality), initial=Confidentiality.NORMAL
    )
    preferred_facility = forms.CharField(required=False)
    mothers_maiden_name = forms.CharField(required=False, label="Mother's maiden name")

    @classmethod
    def initial_of(cls, data: PatientInput) -> dict[str, Any]:
        """Initial values showing the stored record."""
        return {
            "birth_date": data.birth_date,
            "gender": data.gender,
            "language": data.language,
            "marital_status": data.marital_status,
            "confidentiality": data.confidentiality,
            "preferred_facility": data.preferred_facility,
            "mothers_maiden_name": data.mothers_maiden_name,
        }


class PatientFormGroup:
    """The patient form and its five repeating sections, validated, converted and given the
    services' errors as one unit. Section prefixes equal the services' error paths
    (`names`, `identifiers`, …), so `identifiers.1.value` finds its input directly."""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        record: PatientInput | None = None,
        editing: bool = False,
    ) -> None:
        editing = editing or record is not None
        self.patient = PatientForm(data, initial=PatientForm.initial_of(record) if record else None)
        self.sections: dict[str, forms.BaseFormSet[RowForm]] = {}
        for name, row_form in ROW_FORMS.items():
            rows = [row_form.initial_of(item) for item in getattr(record, name)] if record else []
            factory = forms.formset_factory(
                row_form,
                formset=SectionFormSet,
                extra=1 if editing else _EXTRA_ROWS[name],
                can_delete=editing,
            )
            self.sections[name] = factory(data, prefix=name, initial=rows or None)
        self.section_errors: dict[str, list[str]] = {name: [] for name in COLLECTIONS}
        self.errors: list[str] = []
        self._rows: dict[str, list[RowForm]] = {}

    def is_valid(self) -> bool:
        """Whether every box parsed (types and codes only; the services judge the record)."""
        valid = self.patient.is_valid()
        for formset in self.sections.values():
            valid = formset.is_valid() and valid
        return valid

    def to_input(self) -> PatientInput:
        """The record as typed. Call after is_valid(); when it was not valid (the live duplicate
        check of a half-filled form), boxes that did not parse are treated as empty."""
        data = self.patient.cleaned_data if hasattr(self.patient, "cleaned_data") else {}
        collections: dict[str, tuple[Any, ...]] = {}
        for name, formset in self.sections.items():
            rows = [
                form
                for form in formset.forms
                if hasattr(form, "cleaned_data") and not form.is_deleted() and not form.is_blank()
            ]
            self._rows[name] = rows
            collections[name] = tuple(form.to_input() for form in rows)
        return PatientInput(
            names=collections["names"],
            identifiers=collections["identifiers"],
            telecoms=collections["telecoms"],
            addresses=collections["addresses"],
            contacts=collections["contacts"],
            gender=_text(data, "gender") or Gender.UNKNOWN,
            birth_date=_date(data, "birth_date"),
            language=_text(data, "language"),
            marital_status=_text(data, "marital_status"),
            confidentiality=_text(data, "confidentiality") or Confidentiality.NORMAL,
            preferred_facility=_text(data, "preferred_facility"),
            mothers_maiden_name=_text(data, "mothers_maiden_name"),
        )

    def add_service_errors(
        self,
        errors: Iterable[FieldError],
        routes: Mapping[str, tuple[forms.Form, str]] | None = None,
    ) -> None:
        """Show each error of a service next to the input its path names; `routes` sends paths
        outside the record (e.g. `duplicate_override.reason`) to another form's field."""
        for error in errors:
            if routes and error.field in routes:
                form, field = routes[error.field]
                form.add_error(field, error.message)
            else:
                self._place(error.field, error.message)

    def _place(self, path: str, message: str) -> None:
        head, _, rest = path.partition(".")
        if head in self.sections:
            index, _, field = rest.partition(".")
            field = field.partition(".")[0]  # `names.0.given.1` belongs to the given box
            rows = self._rows.get(head, [])
            if index.isdigit() and int(index) < len(rows):
                row = rows[int(index)]
                field = row.error_fields.get(field, field)
                row.add_error(field if field in row.fields else None, message)
            else:
                self.section_errors[head].append(message)
        elif head in self.patient.fields and not rest:
            self.patient.add_error(head, message)
        else:
            self.errors.append(message)

    def has_errors(self) -> bool:
        """Whether anything is to be shown as an error."""
        return bool(
            self.errors
            or any(self.section_errors.values())
            or self.patient.errors
            or any(formset.total_error_count() for formset in self.sections.values())
        )

    def section_list(self) -> list[tuple[str, str, forms.BaseFormSet[RowForm], list[str]]]:
        """(prefix, title, formset, errors) of each section, in display order."""
        return [
            (name, SECTION_TITLES[name], self.sections[name], self.section_errors[name])
            for name in COLLECTIONS
        ]


class OverrideForm(forms.Form):
    """Why a registration that looks like an existing patient is saved anyway."""

    reason = forms.CharField(
        required=False,
        label="Reason to register anyway",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    def reason_or_none(self) -> str | None:
        """The reason typed, or None when the box is empty (then duplicates stop the save)."""
        reason = _text(self.cleaned_data, "reason") if hasattr(self, "cleaned_data") else ""
        return reason or None


class VersionForm(forms.Form):
    """The version of the record the form was rendered with (optimistic concurrency)."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class DeactivateForm(VersionForm):
    """Deactivating a record (it is never deleted) needs a reason."""

    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), label="Reason"
    )


class BreakGlassForm(forms.Form):
    """Why the user must open a restricted record now (the service checks the rules)."""

    reason_category = forms.ChoiceField(
        choices=[("", "— choose —"), *BreakGlassReason.choices], label="Reason"
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), label="Explain", max_length=1000
    )


class CareTeamGrantForm(forms.Form):
    """Put a member of the tenant on a restricted patient's care team (the service checks)."""

    user = forms.TypedChoiceField(coerce=int, label="Member", empty_value=None)
    expires_at = forms.DateTimeField(
        required=False,
        label="Until",
        help_text="Optional (UTC); empty: until revoked.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), label="Reason", max_length=1000
    )
    next = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, members: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast("forms.TypedChoiceField", self.fields["user"])
        field.choices = [("", "— choose —"), *((str(pk), name) for pk, name in members.items())]


class SearchForm(forms.Form):
    """What the front desk knows about the person in front of them."""

    name = forms.CharField(
        required=False,
        label="Name",
        widget=forms.TextInput(attrs={"placeholder": "family and/or given, prefix ok"}),
    )
    birth_date = forms.DateField(required=False, widget=_date_input(), label="Birth date")
    identifier = forms.CharField(
        required=False,
        label="Identifier",
        widget=forms.TextInput(attrs={"placeholder": "value, or system|value"}),
    )
    phone = forms.CharField(required=False, label="Phone")

    def criteria(self) -> PatientSearch | None:
        """The search to run, or None when the form is invalid or empty."""
        if not self.is_valid():
            return None
        data = self.cleaned_data
        search = PatientSearch(
            name=_text(data, "name"),
            birth_date=_date(data, "birth_date"),
            identifier=_text(data, "identifier"),
            phone=_text(data, "phone"),
        )
        if not (search.name or search.birth_date or search.identifier or search.phone):
            return None
        return search


class VitalStatusForm(VersionForm):
    """One change of vital status: record a death, verify, refute or correct it."""

    ACTIONS: ClassVar[list[tuple[str, str]]] = [
        ("record", "Record a reported death"),
        ("verify", "Verify the recorded death"),
        ("correct", "Correct the date of death"),
        ("refute", "Refute the recorded death"),
    ]
    action = forms.ChoiceField(choices=ACTIONS, label="Change")
    deceased_date = forms.DateField(required=False, widget=_date_input(), label="Date of death")
    deceased_date_precision = forms.ChoiceField(
        choices=_choices(DatePrecision), initial=DatePrecision.DAY, label="Known to the"
    )
    deceased_date_estimated = forms.BooleanField(required=False, label="Estimated")
    source = forms.ChoiceField(
        choices=[
            (str(v), str(label))
            for v, label in VitalStatusSource.choices
            if v
            in {
                VitalStatusSource.FRONT_DESK,
                VitalStatusSource.HOSPITAL,
                VitalStatusSource.INTEGRATOR,
            }
        ],
        initial=VitalStatusSource.FRONT_DESK,
        label="Reported by",
    )
    refuted_status = forms.ChoiceField(
        choices=[(VitalStatus.ALIVE.value, "Alive"), (VitalStatus.UNKNOWN.value, "Unknown")],
        initial=VitalStatus.ALIVE,
        label="After refuting, the patient is",
    )
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        label="Reason / note",
    )


class DismissForm(forms.Form):
    """Closing a queued death notification needs a reason."""

    reason = forms.CharField(max_length=500, label="Reason")


class RecordForPatientForm(forms.Form):
    """The patient a queued death notification is about."""

    patient_id = forms.UUIDField(label="Patient id")


class PortraitForm(VersionForm):
    """A portrait upload (validated by the service, by decoding it), or its removal."""

    image = forms.FileField(required=False, label="Portrait (JPEG, PNG or WebP)")
    remove = forms.BooleanField(required=False, label="Remove the portrait")

    def clean(self) -> dict[str, Any]:
        """An image, or the removal box: one of them."""
        cleaned: dict[str, Any] = super().clean() or {}
        if not cleaned.get("remove") and not cleaned.get("image"):
            raise forms.ValidationError("Choose an image file, or tick remove.")
        return cleaned

    def upload_bytes(self, limit: int) -> bytes:
        """The uploaded file, read one byte past `limit` (the service refuses oversize)."""
        upload = self.cleaned_data["image"]
        data: bytes = upload.read(limit + 1)
        return data

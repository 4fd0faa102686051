"""Term frequencies of names in a tenant, for weighting agreement on common names less.

The counts come from `NameFrequency`, rebuilt periodically by `name_frequencies_refresh`;
one indexed query per match fetches only the names the query itself carries (agreement is
EXACT only when both sides have the same name key, so the query's names are all that can be
asked for). Below `MIN_COUNTED_PATIENTS` frequencies are noise (every name of a ten-patient
tenant has frequency >= 10%), so the model's own u is used instead.
"""

from collections.abc import Iterable

from django.db.models import Q

from mpi.matching.normalize import name_key
from mpi.matching.score import TermFrequencyLookup
from mpi.models import NameFrequency

MIN_COUNTED_PATIENTS = 1000


def term_frequency_lookup(
    *, family: Iterable[str | None], given: Iterable[str | None]
) -> TermFrequencyLookup | None:
    """A lookup for the given normalized names, or None when the tenant has too few counts."""
    wanted = {
        NameFrequency.FAMILY: {name_key(value) for value in family if value},
        NameFrequency.GIVEN: {name_key(value) for value in given if value},
    }
    condition = Q()
    for field_name, values in wanted.items():
        # The empty value holds the field's denominator (see NameFrequency).
        condition |= Q(field=field_name, value__in=sorted(values | {""}))
    counts: dict[tuple[str, str], int] = {
        (row_field, value): patients
        for row_field, value, patients in NameFrequency.objects.filter(condition).values_list(
            "field", "value", "patients"
        )
    }
    total = min(counts.get((NameFrequency.FAMILY, ""), 0), counts.get((NameFrequency.GIVEN, ""), 0))
    if total < MIN_COUNTED_PATIENTS:
        return None

    def lookup(field_name: str, value: str) -> float | None:
        """Share of counted patients with this name; None for names counted after the refresh."""
        patients = counts.get((field_name, name_key(value)))
        return None if not patients else patients / total

    return lookup

"""The pure parts of online matching: blocking keys, record-number handling, reason codes."""

from datetime import date

import pytest
from rest_framework.exceptions import ValidationError

from mpi.api.serializers import MatchQuerySerializer, StrictBooleanField
from mpi.matching.record import DEFAULT_PLACEHOLDER_POLICY, MatchRecord
from mpi.matching.score import score_pair
from mpi.selectors.candidates import (
    CandidatePass,
    CandidateQuery,
    birth_date_variants,
    candidate_query,
    similar_names_sql,
    union_sql,
    year_segments,
)
from mpi.selectors.records import (
    input_records,
    record_number_systems,
    without_unshared_record_numbers,
)
from mpi.services.matching import match_reasons
from registration.services.inputs import IdentifierInput, NameInput, PatientInput, TelecomInput

POLICY = DEFAULT_PLACEHOLDER_POLICY


class TestBlockingKeys:
    def test_keys_are_the_stored_forms(self):
        query = candidate_query(
            PatientInput(
                names=(
                    NameInput(family="Nickname", given=("Nick",), use="nickname"),
                    NameInput(family="García-López", given=("José", "María")),
                ),
                birth_date=date(1980, 4, 5),
                identifiers=(
                    IdentifierInput(system="urn:oid:1.2", value="77"),
                    IdentifierInput(system="urn:oid:1.2", value="77"),
                ),
                telecoms=(
                    TelecomInput(system="phone", value="+1 (617) 555-0142"),
                    TelecomInput(system="email", value="Jose@Example.org"),
                    TelecomInput(system="url", value="https://example.org"),
                    TelecomInput(system="phone", value="12"),
                ),
            ),
            POLICY,
        )
        assert query == CandidateQuery(
            family="garcia lopez",
            given="jose",
            family_phonetic="KRXLPS",
            birth_date=date(1980, 4, 5),
            identifiers=(("urn:oid:1.2", "77"),),
            telecoms=("6175550142", "jose@example.org"),
        )

    def test_placeholders_are_dropped(self):
        query = candidate_query(
            PatientInput(
                names=(NameInput(family="Smith", given=("Baby Boy",)),),
                birth_date=date(1900, 1, 1),
                identifiers=(IdentifierInput(system="urn:oid:1.2", value="000-00-0000"),),
                telecoms=(
                    TelecomInput(system="phone", value="555-555-5555"),
                    TelecomInput(system="email", value="none@none.com"),
                ),
            ),
            POLICY,
        )
        assert query == CandidateQuery(family="smith", family_phonetic="SM0")
        assert query.applicable_passes() == ()

    @pytest.mark.parametrize(
        ("query", "passes"),
        [
            (CandidateQuery(), ()),
            (
                CandidateQuery(family="a", given="b", birth_date=date(2000, 1, 2)),
                (CandidatePass.SIMILAR_NAMES, CandidatePass.SAME_BIRTH_DATE),
            ),
            (CandidateQuery(family="a", given="b"), (CandidatePass.SIMILAR_NAMES,)),
            (
                CandidateQuery(given="b", birth_date=date(2000, 1, 2)),
                (CandidatePass.SAME_BIRTH_DATE,),
            ),
            (
                CandidateQuery(family="a", family_phonetic="A", birth_date=date(2000, 1, 2)),
                (CandidatePass.SAME_BIRTH_DATE, CandidatePass.PHONETIC),
            ),
            (
                CandidateQuery(identifiers=(("s", "v"),), telecoms=("1",)),
                (CandidatePass.IDENTIFIER, CandidatePass.TELECOM),
            ),
        ],
    )
    def test_only_passes_with_keys_run(self, query, passes):
        assert query.applicable_passes() == passes

    def test_parameters_window_and_exclusion(self):
        params = CandidateQuery(birth_date=date(1985, 3, 4)).parameters(limit=11)
        assert (params["year"], params["month"], params["day"], params["limit"]) == (
            1985,
            3,
            4,
            11,
        )
        assert params["birth_dates"] == [date(1985, 3, 4), date(1985, 4, 3)]
        assert str(params["exclude"]) == "00000000-0000-0000-0000-000000000000"
        assert CandidateQuery().parameters(limit=1)["year"] is None

    @pytest.mark.parametrize(
        ("birth_date", "variants"),
        [
            (None, ()),
            (date(1985, 3, 4), (date(1985, 3, 4), date(1985, 4, 3))),
            (date(1985, 3, 14), (date(1985, 3, 14),)),  # no 14th month
            (date(1985, 5, 5), (date(1985, 5, 5),)),
            (date(1984, 2, 12), (date(1984, 2, 12), date(1984, 12, 2))),
        ],
    )
    def test_birth_date_variants(self, birth_date, variants):
        assert birth_date_variants(birth_date) == variants

    def test_union_labels_every_applicable_pass(self):
        sql = union_sql(
            CandidateQuery(
                identifiers=(("s", "v"),), family_phonetic="A", birth_date=date(2000, 1, 2)
            )
        )
        assert sql.count("UNION ALL") == 1
        assert "'identifier'::text AS pass" in sql
        assert "'phonetic'::text AS pass" in sql

    @pytest.mark.parametrize(
        ("year", "segments"),
        [
            (1975, ((1974, 1976),)),
            (1979, ((1978, 1979), (1980, 1980))),
            (1920, ((1919, 1919), (1920, 1921))),
            (2021, ((2020, 2022),)),
            (1890, ((1889, 1891),)),
        ],
    )
    def test_the_year_window_is_cut_at_the_index_buckets(self, year, segments):
        assert year_segments(year) == segments

    def test_similar_names_arms_follow_the_buckets(self):
        sql = similar_names_sql(1979)
        assert "s.birth_year BETWEEN 1978 AND 1979 AND lower(s.family_folded)" in sql
        assert "s.birth_year BETWEEN 1980 AND 1980 AND lower(s.family_folded)" in sql
        assert "s.birth_year IS NULL AND lower(" in sql
        assert sql.count(" OR (") == 5  # 3 year arms x 2 name orders
        anytime = similar_names_sql(None)
        assert "birth_year" not in anytime
        assert "lower(" not in anytime


class TestRecordNumbers:
    def test_systems_of_mrn_typed_identifiers(self):
        assert record_number_systems(
            [("URN:OID:1.2", "MR"), ("http://ssn", "SS"), ("  ", "MR")]
        ) == frozenset({"urn:oid:1.2"})

    def test_a_new_mrn_is_no_contradiction_the_same_mrn_still_counts(self):
        systems = frozenset({"mrn"})
        left = MatchRecord.from_raw(identifiers=[("mrn", "1"), ("ssn", "987654320")])
        other = MatchRecord.from_raw(identifiers=[("mrn", "2"), ("ssn", "987654320")])
        same = MatchRecord.from_raw(identifiers=[("mrn", "1")])
        none = MatchRecord.from_raw()
        cleaned_left, cleaned_other = without_unshared_record_numbers(left, other, systems)
        assert cleaned_left.identifiers == (("ssn", "987654320"),)
        assert cleaned_other.identifiers == (("ssn", "987654320"),)
        assert without_unshared_record_numbers(left, same, systems) == (left, same)
        assert without_unshared_record_numbers(left, none, systems) == (left, none)

    def test_a_record_per_name_and_one_without_names(self):
        data = PatientInput(
            names=(NameInput(family="Eze", given=("Ada", "Grace")), NameInput(family="Okafor")),
            gender="female",
        )
        first, second = input_records(data, POLICY)
        assert (first.family, first.given, first.middle) == ("eze", "ada", "grace")
        assert (second.family, second.given, second.sex) == ("okafor", None, "female")
        (nameless,) = input_records(PatientInput(), POLICY)
        assert nameless.family is None


class TestReasons:
    @pytest.mark.parametrize(
        ("left", "right", "reasons"),
        [
            (
                {"family": "Smith", "given": "John", "birth_date": "1980-01-02"},
                {"family": "SMITH", "given": "john", "birth_date": "1980-01-02"},
                ("name_and_birth_date",),
            ),
            (
                {"family": "Smith", "given": "John", "birth_date": "1980-01-02"},
                {"family": "Smyth", "given": "Jon", "birth_date": "1980-02-01"},
                ("similar_name_and_birth_date",),
            ),
            (
                {"family": "Smith", "identifiers": [("mrn", "1")]},
                {"family": "Jones", "identifiers": [("mrn", "1")]},
                ("identifier",),
            ),
            ({"family": "Smith"}, {"family": "Smith", "given": "Ann"}, ("family",)),
        ],
    )
    def test_reason_codes(self, left, right, reasons):
        explanation = score_pair(MatchRecord.from_raw(**left), MatchRecord.from_raw(**right))
        assert match_reasons(explanation.explanation) == reasons


class TestStrictJson:
    def test_booleans_are_json_booleans(self):
        field = StrictBooleanField()
        assert field.to_internal_value(True) is True
        for value in ("true", 1, None):
            with pytest.raises(ValidationError):
                field.to_internal_value(value)

    def test_defaults(self):
        body = MatchQuerySerializer(data={})
        assert body.is_valid()
        assert (body.validated_data["count"], body.validated_data["only_certain"]) == (10, False)

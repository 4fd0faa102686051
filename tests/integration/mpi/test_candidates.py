"""Candidate generation in PostgreSQL: each blocking pass finds what it is for, placeholders
never block, the bound is reported, and nothing crosses a tenant boundary."""

from datetime import date

import pytest

from mpi.matching.record import DEFAULT_PLACEHOLDER_POLICY
from mpi.selectors.candidates import CandidateQuery, candidate_query, match_candidates
from registration.services.patients import patient_deactivate
from tenancy.db import tenant_cursor, tenant_scope
from tests.factories import make_tenant
from tests.integration.mpi.conftest import person, register

pytestmark = pytest.mark.django_db

JOHN = person("Smith", "John", date(1985, 3, 14), mrn="A-1001", phone="617-555-0142")


def found(data, **options):
    return match_candidates(candidate_query(data, DEFAULT_PLACEHOLDER_POLICY), **options)


class TestPasses:
    def test_identifier_equality(self, scope):
        john = register(JOHN)
        result = found(person("Nobody", "Else", None, mrn="A-1001"))
        assert result.patient_ids == (john.id,)
        assert result.found_by[john.id] == ("identifier",)

    def test_telecom_equality_phone_and_email(self, scope):
        john = register(person("Smith", "John", None, phone="+1 (617) 555-0142"))
        jane = register(person("Doe", "Jane", None, email="Jane.Doe@Example.org"))
        assert found(person("X", "Y", None, phone="617.555.0142")).patient_ids == (john.id,)
        result = found(person("X", "Y", None, email="jane.doe@example.org"))
        assert result.patient_ids == (jane.id,)
        assert result.found_by[jane.id] == ("telecom",)

    def test_similar_names_within_the_birth_year_window_either_order(self, scope):
        john = register(JOHN)
        typo = found(person("Smyth", "Johm", date(1986, 1, 2)))
        assert typo.found_by[john.id] == ("similar_names",)
        swapped = found(person("John", "Smith", date(1984, 12, 30)))
        assert swapped.found_by[john.id] == ("similar_names",)
        assert found(person("Smyth", "Johm", date(1988, 3, 14))).patient_ids == ()

    def test_similar_names_without_a_birth_date_search_every_year(self, scope):
        john = register(JOHN)
        result = found(person("Smith", "Johnn", None))
        assert result.found_by[john.id] == ("similar_names",)
        assert found(person("Smith", "Mary", None)).patient_ids == ()  # both names must agree

    def test_stored_patient_without_birth_date_is_still_found_by_name(self, scope):
        unknown = register(person("Okafor", "Adaeze", None))
        assert found(person("Okafor", "Adaze", date(1987, 3, 14))).patient_ids == (unknown.id,)

    def test_same_birth_date_with_one_name_similar(self, scope):
        john = register(JOHN)
        nickname = found(person("Smith", "Jack", date(1985, 3, 14)))
        assert "same_birth_date" in nickname.found_by[john.id]
        married = found(person("Jones", "John", date(1985, 3, 14)))
        assert married.found_by[john.id] == ("same_birth_date",)

    def test_same_birth_date_with_day_and_month_swapped(self, scope):
        maria = register(person("Garcia", "Maria", date(1990, 5, 7)))
        swapped = found(person("Lopez", "Maria", date(1990, 7, 5)))
        assert swapped.found_by[maria.id] == ("same_birth_date",)
        john = register(JOHN)  # born on the 14th: no day/month-swapped reading exists
        assert john.id not in found(person("Jones", "John", date(1985, 12, 3))).patient_ids

    def test_phonetic_family_and_birth_year_with_month_or_day(self, scope):
        wright = register(person("Wright", "Jane", date(1970, 5, 5)))
        for born in (date(1970, 5, 9), date(1970, 8, 5)):  # one date component mistyped
            result = found(person("Rite", "Janet", born))
            assert result.found_by[wright.id] == ("phonetic",)
        assert found(person("Rite", "Janet", date(1970, 8, 9))).patient_ids == ()
        assert found(person("Rite", "Janet", date(1971, 5, 5))).patient_ids == ()

    def test_found_by_several_passes_ranks_first(self, scope):
        john = register(JOHN)
        other = register(person("Smith", "Johanna", date(1985, 3, 14)))
        result = found(JOHN)
        assert result.patient_ids[0] == john.id
        assert set(result.found_by[john.id]) == {
            "identifier",
            "telecom",
            "similar_names",
            "same_birth_date",
            "phonetic",
        }
        assert other.id in result.patient_ids


class TestPlaceholders:
    def test_placeholder_identifier_and_phone_never_block(self, scope):
        register(person("Smith", "John", None, mrn="99999999", phone="555-555-5555"))
        query = candidate_query(
            person("Other", "Person", None, mrn="99999999", phone="(555) 555-5555"),
            DEFAULT_PLACEHOLDER_POLICY,
        )
        assert query.identifiers == ()
        assert query.telecoms == ()
        assert match_candidates(query).patient_ids == ()

    def test_placeholder_names_and_birth_date_never_block(self, scope):
        register(person("Doe", "John", date(1900, 1, 1)))
        register(person("Unknown", "Baby Girl", date(2024, 1, 1)))
        query = candidate_query(person("Doe", "John", date(1900, 1, 1)), DEFAULT_PLACEHOLDER_POLICY)
        assert (query.family, query.given, query.birth_date) == ("", "", None)
        assert query.applicable_passes() == ()
        baby = candidate_query(
            person("Unknown", "Baby Girl", date(2024, 1, 1)), DEFAULT_PLACEHOLDER_POLICY
        )
        assert (baby.family, baby.given) == ("", "")
        assert match_candidates(baby).patient_ids == ()


class TestBoundAndFilters:
    def test_the_bound_is_reported_never_silent(self, scope):
        for given in ("Ann", "Anna", "Anne", "Annie", "Anya"):
            register(person("Smith", given, date(1980, 1, 1)))
        query = person("Smith", "Ann", date(1980, 1, 1))
        everything = found(query, bound=10)
        assert len(everything.patient_ids) == 5
        assert everything.truncated is False
        cut = found(query, bound=3)
        assert len(cut.patient_ids) == 3
        assert cut.truncated is True
        assert cut.bound == 3

    def test_the_bound_must_be_positive(self, scope):
        with pytest.raises(ValueError, match="at least 1"):
            found(JOHN, bound=0)

    def test_inactive_and_excluded_patients_are_not_candidates(self, scope):
        john = register(JOHN)
        twin = register(person("Smith", "Jon", date(1985, 3, 14)))
        assert set(found(JOHN).patient_ids) == {john.id, twin.id}
        assert found(JOHN, exclude_patient_id=john.id).patient_ids == (twin.id,)
        patient_deactivate(actor=None, patient_id=twin.id, expected_version=1, reason="merged")
        assert found(JOHN).patient_ids == (john.id,)

    def test_no_keys_no_query(self, scope, django_assert_num_queries):
        with django_assert_num_queries(0):
            assert found(person("", "", None)).patient_ids == ()


class TestTenantIsolation:
    def test_other_tenants_patients_never_appear(self, tenant):
        other = make_tenant()
        with tenant_scope(other.id):
            register(JOHN)
        with tenant_scope(tenant.id):
            assert found(JOHN).patient_ids == ()
            mine = register(JOHN)
            assert found(JOHN).patient_ids == (mine.id,)

    def test_the_name_search_view_shows_nothing_without_a_tenant(self, tenant):
        with tenant_scope(tenant.id):
            register(JOHN)
            with tenant_cursor() as cursor:
                cursor.execute("SELECT count(*) FROM mpi_name_search")
                assert cursor.fetchone() == (1,)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM mpi_name_search")
            assert cursor.fetchone() == (0,)

    def test_the_app_role_cannot_write_through_the_view(self, scope):
        from django.db import DatabaseError, connection, transaction

        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM mpi_name_search")


def test_candidate_query_keys_match_the_stored_columns(scope):
    john = register(JOHN)
    name = john.names.get()
    query = candidate_query(JOHN, DEFAULT_PLACEHOLDER_POLICY)
    assert (query.family, query.given, query.family_phonetic) == (
        name.family_folded,
        name.given_folded,
        name.family_phonetic,
    )
    assert name.birth_year == 1985
    assert isinstance(query, CandidateQuery)

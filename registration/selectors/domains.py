"""Reads of the tenant's identifier domains."""

from registration.models import IdentifierDomain


def identifier_domains() -> dict[str, IdentifierDomain]:
    """The tenant's assigning authorities by system URI (rules that identifiers must follow)."""
    return {domain.system: domain for domain in IdentifierDomain.objects.all()}

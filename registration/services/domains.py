"""Tenant administrators define the identifier domains (assigning authorities) they use."""

import re

from django.db import transaction

from registration.models import CheckDigitAlgorithm, IdentifierDomain
from registration.services.validation import IDENTIFIER_TYPE_CODES, SYSTEM_PATTERN
from tenancy.db import current_tenant_id
from tenancy.errors import FieldError, NotFoundError, ValidationFailedError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record


def validate_identifier_domain(
    *, system: str, name: str, type_code: str, format_regex: str, check_digit: str
) -> None:
    """The rules of a domain definition; raises ValidationFailedError with field errors."""
    errors: list[FieldError] = []
    if not re.fullmatch(SYSTEM_PATTERN, system) or len(system) > 255:
        errors.append(
            FieldError("system", "invalid_uri", "Use a urn:oid:, urn:uuid: or http(s):// URI.")
        )
    if not name.strip() or len(name) > 100:
        errors.append(FieldError("name", "required", "A name of 1 to 100 characters is required."))
    if type_code and type_code not in IDENTIFIER_TYPE_CODES:
        errors.append(FieldError("type_code", "invalid_choice", "Not a known identifier type."))
    if len(format_regex) > 200:
        errors.append(FieldError("format_regex", "max_length", "At most 200 characters."))
    else:
        try:
            re.compile(format_regex)
        except re.error:
            errors.append(
                FieldError("format_regex", "invalid_regex", "Not a valid regular expression.")
            )
    if check_digit not in CheckDigitAlgorithm.values:
        errors.append(FieldError("check_digit", "invalid_choice", "Unknown check digit algorithm."))
    if errors:
        raise ValidationFailedError("The identifier domain is invalid.", errors=errors)


def identifier_domain_save(
    *,
    actor: Principal | None,
    system: str,
    name: str,
    type_code: str = "",
    format_regex: str = "",
    check_digit: str = CheckDigitAlgorithm.NONE,
    domain_id: int | None = None,
) -> IdentifierDomain:
    """Create or change a domain; its rules apply to identifiers written from now on."""
    validate_identifier_domain(
        system=system,
        name=name,
        type_code=type_code,
        format_regex=format_regex,
        check_digit=str(check_digit),
    )
    with transaction.atomic():
        if domain_id is None:
            domain = IdentifierDomain(tenant_id=current_tenant_id())
        else:
            found = IdentifierDomain.objects.select_for_update().filter(id=domain_id).first()
            if found is None:
                raise NotFoundError("No such identifier domain.")
            domain = found
        clash = IdentifierDomain.objects.filter(system=system).exclude(id=domain.id).exists()
        if clash:
            raise ValidationFailedError(
                "The system is already defined.",
                errors=[FieldError("system", "unique", "This system already has a domain.")],
            )
        domain.system, domain.name, domain.type_code = system, name.strip(), type_code
        domain.format_regex, domain.check_digit = format_regex, str(check_digit)
        domain.save()
        audit_record(
            actor=actor,
            action="identifier_domain.saved",
            object_type="identifier_domain",
            object_id=str(domain.id),
            details={"system": system},
        )
    return domain

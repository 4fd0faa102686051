"""Registry of the Patient operations that higher layers implement ($match, $ihe-pix).

Registration cannot import the MPI; the MPI registers its operations here at start-up (from
`mpi.apps`), and the FHIR views dispatch `Patient/$<name>` to them and list them in the
CapabilityStatement.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tenancy.principal import Principal


@dataclass(frozen=True, slots=True)
class OperationCall:
    """What a type-level Patient operation receives: caller, method, parameters, body."""

    principal: Principal | None
    method: str
    params: Mapping[str, Sequence[str]]
    body: Any
    base_url: str


@dataclass(frozen=True, slots=True)
class OperationResult:
    """A FHIR resource (as JSON) and the status to answer with."""

    resource: dict[str, Any]
    status: int = 200


@dataclass(frozen=True, slots=True)
class PatientOperation:
    """A `Patient/$name` operation: who may call it, how, and its definition."""

    name: str
    definition: str
    documentation: str
    methods: frozenset[str]
    roles: tuple[str, ...]
    handler: Callable[[OperationCall], OperationResult]


_OPERATIONS: dict[str, PatientOperation] = {}


def register_operation(operation: PatientOperation) -> None:
    """Make `Patient/$<operation.name>` available (called once from an AppConfig.ready())."""
    _OPERATIONS[operation.name] = operation


def patient_operation(name: str) -> PatientOperation | None:
    """The registered operation called `name`, if any."""
    return _OPERATIONS.get(name)


def patient_operations() -> list[PatientOperation]:
    """Every registered operation, by name."""
    return [_OPERATIONS[name] for name in sorted(_OPERATIONS)]

"""The licensable modules, and how an interface declares which one it belongs to.

Every REST view, console page (ModelAdmin), plain Django view and Celery task declares a
`required_module`; the guard (`tenancy.api.permissions.ModuleEntitled`, `TenantScopedAdmin`,
`TenantTask`) refuses it when the caller's tenant has not licensed that module, and a test walks
every URL pattern and every task and fails on one that declares nothing (docs/SECURITY.md).

Two markers are not licensable and always on, and must be named explicitly:
`CORE` (the kernel every tenant has: audit trail, API keys, members, tenant switch, platform
pages and platform-wide tasks) and `PUBLIC` (endpoints outside any tenant: probes, metrics, the
API's schema and docs, signed webhooks).
"""

from collections.abc import Callable
from typing import TypeVar

CORE = "core"
PUBLIC = "public"
ALWAYS_ON = frozenset({CORE, PUBLIC})

REGISTRATION = "registration"
MPI = "mpi"
FHIR = "fhir"
PORTRAIT = "portrait"
BREAK_GLASS = "break_glass"

_LICENSABLE: dict[str, str] = {}


def register_module(name: str, title: str) -> str:
    """Make `name` a licensable module (idempotent); apps extend the registry at import."""
    if name in ALWAYS_ON:
        raise ValueError(f"{name} is an always-on marker, not a licensable module")
    _LICENSABLE.setdefault(name, title)
    return name


register_module(REGISTRATION, "Patient registration")
register_module(MPI, "Master patient index")
register_module(FHIR, "FHIR R4 API")
register_module(PORTRAIT, "Patient portraits")
register_module(BREAK_GLASS, "Break-glass access to restricted patients")


def licensable_modules() -> dict[str, str]:
    """Every licensable module with its title, by name."""
    return dict(sorted(_LICENSABLE.items()))


def is_declarable(name: object) -> bool:
    """True for a licensable module or an always-on marker: what `required_module` may say."""
    return isinstance(name, str) and (name in _LICENSABLE or name in ALWAYS_ON)


_F = TypeVar("_F", bound=Callable[..., object])


def requires_module(module: str) -> Callable[[_F], _F]:
    """Declare the module of a plain (non-DRF) Django view function.

    Put it outermost: Django's decorators copy attributes inward-out with functools.wraps.
    """
    if not is_declarable(module):
        raise ValueError(f"Unknown module {module!r}")

    def declare(view: _F) -> _F:
        view.required_module = module  # type: ignore[attr-defined]  # the declaration itself
        return view

    return declare

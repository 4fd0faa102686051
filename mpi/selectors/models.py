"""The tenant's current matching parameters: its newest `MatchModel`, else the built-in ones."""

from dataclasses import replace
from uuid import UUID

from mpi.matching.model import ModelParameters, default_parameters
from mpi.models import MatchModel

# Parsed parameters by model row id: rows are never edited, so a parse stays valid forever.
_PARSED: dict[UUID, ModelParameters] = {}
_PARSED_LIMIT = 256


def current_match_parameters() -> ModelParameters:
    """Parameters of the tenant's highest model version (one query), or the defaults."""
    row = MatchModel.objects.order_by("-version").values_list("id", "version", "parameters").first()
    if row is None:
        return default_parameters()
    model_id, version, parameters = row
    parsed = _PARSED.get(model_id)
    if parsed is None:
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        parsed = replace(ModelParameters.from_dict(parameters), version=f"tenant-v{version}")
        _PARSED[model_id] = parsed
    return parsed

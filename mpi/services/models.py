"""Versions of a tenant's matching model."""

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from mpi.matching.model import ModelParameters
from mpi.models import MatchModel
from tenancy.db import current_tenant_id
from tenancy.errors import ConflictError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record


def match_model_create(
    *,
    actor: Principal | None,
    parameters: ModelParameters,
    training_metrics: Mapping[str, Any] | None = None,
) -> MatchModel:
    """Store `parameters` as the tenant's next model version, which becomes current.

    Used by training (a later task) and by operators who tune thresholds by hand. A concurrent
    creation of the same version loses on the unique constraint and is refused (409).
    """
    with transaction.atomic():
        latest = MatchModel.objects.aggregate(latest=Max("version"))["latest"] or 0
        row = MatchModel(
            tenant_id=current_tenant_id(),
            version=latest + 1,
            parameters=parameters.to_dict(),
            training_metrics=dict(training_metrics or {}),
            created_by=actor.label if actor else "system",
        )
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError as exc:
            raise ConflictError("Another model version was created at the same time.") from exc
        audit_record(
            actor=actor,
            action="mpi.match_model_created",
            object_type="match_model",
            object_id=str(row.id),
            details={"version": row.version},
        )
    return row

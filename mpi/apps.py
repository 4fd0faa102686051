"""App configuration for `mpi`."""

from django.apps import AppConfig


class MpiConfig(AppConfig):
    """Registers the `mpi` app; plugs its matcher into registration's duplicate check and the
    inbox, and its FHIR operations ($match, $ihe-pix) into registration's FHIR facade."""

    name = "mpi"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Replace registration's interim exact duplicate finder with the probabilistic one."""
        # Imported here: the finder reaches models, which load only once the registry is ready.
        from mpi.inbox import register_inbox_handlers  # noqa: PLC0415
        from mpi.services.matching import mpi_duplicate_finder  # noqa: PLC0415
        from registration.services.duplicates import register_duplicate_finder  # noqa: PLC0415

        register_duplicate_finder(mpi_duplicate_finder)
        # Death notifications are matched to patients by the MPI (see mpi.inbox).
        register_inbox_handlers()

        from mpi.fhir.operations import register_fhir_operations  # noqa: PLC0415

        register_fhir_operations()

        # Batch deduplication links CERTAIN pairs to one enterprise id chunk by chunk.
        from mpi.services.batch import register_batch_chunk_hook  # noqa: PLC0415
        from mpi.services.enterprise import batch_chunk_auto_link  # noqa: PLC0415

        register_batch_chunk_hook(batch_chunk_auto_link)

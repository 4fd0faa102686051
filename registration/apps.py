"""App configuration for `registration`."""

from django.apps import AppConfig


class RegistrationConfig(AppConfig):
    """Registers the `registration` app and plugs the FHIR Patient elements other registration
    features own (deceased[x], photo, link) into the FHIR mapper."""

    name = "registration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the FHIR renderers and input checks of vital status, portraits, links."""
        # Imported here: the FHIR modules reach models, which load once the registry is ready.
        from registration.fhir.derived import register_derived_elements  # noqa: PLC0415

        register_derived_elements()

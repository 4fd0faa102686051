"""Project wiring: settings, URLs, the Celery app. Nothing imports this package."""

from config.celery import app as celery_app

__all__ = ["celery_app"]

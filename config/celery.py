"""The Celery application: broker on Redis, tasks discovered from the apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("regsvc")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""WSGI entry point for gunicorn: tracing is set up before Django builds its middleware chain."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tenancy.tracing import setup_tracing

setup_tracing()
application = get_wsgi_application()

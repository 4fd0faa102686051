"""URLs of the outbox app (the inbox webhook lands here)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []

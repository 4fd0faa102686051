"""URLs of the outbox app (mounted at the root): the inbox webhook."""

from django.urls import URLPattern, URLResolver, path

from outbox.api.webhook import InboxWebhookApi

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "api/v1/inbox/webhooks/<slug:sender>",
        InboxWebhookApi.as_view(),
        name="inbox-webhook",
    ),
]

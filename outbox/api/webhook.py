"""The inbox webhook: signed CloudEvents from senders without access to our Redis."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outbox.envelope import parse_incoming
from outbox.services.inbox import InboxOutcome, inbox_receive
from outbox.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_verify
from tenancy.modules import PUBLIC


class InboxWebhookApi(APIView):
    """Receive one CloudEvent from `sender`, authenticated by its HMAC signature.

    200 processed / duplicate, 202 parked as dead (kept for re-drive; do not resend), 400 not a
    CloudEvent or no known tenant, 401 bad signature, 503 try again later — all errors as
    problem+json.
    """

    required_module = PUBLIC  # signed by the sender; outside any tenant until parsed
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = []  # the signature covers the raw body: it is read untouched

    # Not in the public OpenAPI document: only senders holding a shared secret can call it,
    # so generated clients and schema fuzzing have nothing to do with it (docs/EVENTS.md).
    @extend_schema(exclude=True)
    def post(self, request: Request, sender: str) -> Response:
        """Verify, parse, hand to the inbox, and say what became of the message."""
        body = request.body
        webhook_verify(
            sender=sender,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            body=body,
        )
        event = parse_incoming(body)
        receipt = inbox_receive(sender=sender, event=event)
        content = {"status": receipt.outcome.value, "id": event.message_id}
        if receipt.outcome == InboxOutcome.DEAD:
            return Response({**content, "error": receipt.error}, status=202)
        return Response(content, status=200)

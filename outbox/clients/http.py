"""A small JSON-over-HTTP helper (standard library only) for the service clients."""

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tenancy.errors import DomainError


class UpstreamUnavailableError(DomainError):
    """A service this one depends on did not answer, or answered with a server error."""

    code = "upstream-unavailable"
    title = "A dependency is unavailable"
    status = 502


@dataclass(frozen=True, slots=True)
class JsonReply:
    """Status and decoded JSON body (None when the body is empty)."""

    status: int
    body: Any


def request_json(
    method: str,
    url: str,
    *,
    token: str = "",
    body: object | None = None,
    timeout: float = 5.0,
) -> JsonReply:
    """Send one JSON request; 4xx replies are returned, transport and 5xx failures raised.

    Errors name the service's host and status only (never the request body, which may carry
    identifiers).
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise ValueError("Only http(s) service URLs are supported")
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - idem
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise UpstreamUnavailableError(f"{parts.hostname} did not answer.") from exc
    if status >= 500:
        raise UpstreamUnavailableError(f"{parts.hostname} answered {status}.")
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError as exc:
        raise UpstreamUnavailableError(f"{parts.hostname} answered with invalid JSON.") from exc
    return JsonReply(status=status, body=decoded)

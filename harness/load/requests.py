"""What a load run sends and how each reply is classified: requests, bodies, outcomes.

A request is ``"METHOD /path"`` (the same every time) or a factory ``index -> (method, path,
headers, body)`` for requests that differ (unique idempotency keys, say). Each reply is
classified as Jepsen would: ``ok``, ``fail`` when the request surely had no effect, ``info``
when nobody can know.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.history import FAIL, INFO, OK

__all__ = [
    "DEFAULT_CAPTURED_HEADERS",
    "MAX_KEPT_TEXT",
    "MAX_PARSED_BODY",
    "SAFE_METHODS",
    "Body",
    "Classify",
    "Outcome",
    "RequestFactory",
    "RequestSpec",
    "default_classify",
    "encode_body",
    "read_body",
    "request_factory",
    "require_loopback",
]

# Bodies larger than this are not parsed into the history: it would balloon and no
# invariant reads large bodies.
MAX_PARSED_BODY: Final = 64 * 1024
# A reply that is not JSON keeps this many characters of its text, so a test can still
# look at what came back (an HTML error page, a proxy's plain-text refusal).
MAX_KEPT_TEXT: Final = 2048
# Response headers recorded in the history unless the caller names others: standard
# (Retry-After) or near-universal (X-Request-ID) ones that checks commonly read.
DEFAULT_CAPTURED_HEADERS: Final = ("Retry-After", "X-Request-ID")
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

Body = bytes | str | dict[str, Any] | list[Any] | None
RequestSpec = tuple[str, str, Mapping[str, str] | None, Body]
RequestFactory = Callable[[int], RequestSpec]


@dataclass(frozen=True)
class Outcome:
    """What one request came to, before it is classified.

    ``maybe_sent`` is False only when the request provably never reached the server
    (the connection was refused or never established).
    """

    method: str
    status: int | None
    error: str | None
    maybe_sent: bool


Classify = Callable[[Outcome], str]


def default_classify(outcome: Outcome) -> str:
    """ok for 2xx; fail when the request surely had no effect; info when nobody can know.

    No answer at all is a fail only when the request provably never left (the connection
    was refused). A 4xx is a fail: the server refused the request as it stood. A 5xx on a
    safe method (GET, HEAD, ...) is a fail because a read has no effect to lose; on any
    other method it is info, because the server may have applied the change before it
    failed (PUT and DELETE are idempotent but not safe). A system whose contract says more
    (say, its 503 always means "refused before doing anything") passes its own ``classify``.
    """
    if outcome.status is None:
        return INFO if outcome.maybe_sent else FAIL
    if 200 <= outcome.status < 300:
        return OK
    if 400 <= outcome.status < 500:
        return FAIL
    return FAIL if outcome.method in SAFE_METHODS else INFO


def require_loopback(base_url: str) -> None:
    """Raise ConfigError unless ``base_url`` is http(s) to 127.0.0.0/8, ::1 or localhost."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"{base_url!r} is not an http URL; pass something like http://127.0.0.1:8080"
        )
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"{base_url!r} is not a loopback address; chaos-harness only sends traffic to "
            "127.0.0.0/8, ::1 or localhost: use the address the harness published the "
            "service on"
        )


def parse_request(request: str) -> tuple[str, str]:
    method, _, path = request.strip().partition(" ")
    path = path.strip()
    if not method.isalpha() or not path.startswith("/"):
        raise ConfigError(f"request {request!r} should look like 'GET /products/1'")
    return method.upper(), path


def request_factory(request: str | RequestFactory, body: Body) -> RequestFactory:
    if not isinstance(request, str):
        if body is not None:
            raise ConfigError(
                "pass body= only with a 'METHOD /path' request; a callable returns its own body"
            )
        return request
    method, path = parse_request(request)

    def same_request_every_time(_: int) -> RequestSpec:
        return method, path, None, body

    return same_request_every_time


def encode_body(body: Body, headers: dict[str, str]) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return json.dumps(body).encode()


def read_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """What a history keeps of a reply's body: ``{"body": <parsed JSON>}`` when it is JSON,
    else ``{"text": <its first MAX_KEPT_TEXT characters>}`` (nothing for an empty body).

    A body that says it is JSON but does not parse keeps its text too, so a check can tell a
    garbled reply from one that was never JSON.
    """
    if not raw:
        return {}
    if len(raw) <= MAX_PARSED_BODY and "json" in content_type:
        try:
            return {"body": json.loads(raw)}
        except ValueError:
            pass
    text = raw[: MAX_KEPT_TEXT * 4].decode("utf-8", errors="replace")
    if len(text) > MAX_KEPT_TEXT or len(raw) > MAX_KEPT_TEXT * 4:
        text = f"{text[:MAX_KEPT_TEXT]}... [{len(raw)} bytes in all]"
    return {"text": text}

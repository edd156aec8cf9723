"""The Toxiproxy server of a running topology and its proxies, through ``toxiproxy-python``.

``toxiproxy-python`` keeps the server address in class attributes, so every call here
points it at this server first: the address belongs to this object, not to whichever
server was configured last. Its exceptions become :class:`FaultError` quoting the server.
It also sends every request without a timeout, so this module gives it one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
import tenacity
import toxiproxy.api
from toxiproxy import Proxy, Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.errors import FaultError, StartupError
from harness.topology import Link

__all__ = [
    "API_TIMEOUT_S",
    "COUNTER",
    "ProxyHandle",
    "ToxicState",
    "ToxiproxyServer",
    "proxy_name",
]

# Toxiproxy answers its API in milliseconds; one that has not answered in this long is
# stuck (e.g. RemoveToxic blocked under the proxy's lock, Shopify/toxiproxy#558), and a
# FaultError now is better than a run that hangs for ever.
API_TIMEOUT_S = 15.0

# The harness's own toxic on a link it supplies: it counts the requests that cross it
# (``http_count`` of the project's build) and is no fault, so ``toxics()`` leaves it out.
COUNTER = "chaos-harness-requests"
COUNTER_TYPE = "http_count"


class _RequestsWithTimeout:
    """What ``toxiproxy.api`` calls as ``requests``, with a timeout on every request."""

    @staticmethod
    def get(**kwargs: Any) -> requests.Response:
        return requests.get(timeout=API_TIMEOUT_S, **kwargs)

    @staticmethod
    def post(**kwargs: Any) -> requests.Response:
        return requests.post(timeout=API_TIMEOUT_S, **kwargs)

    @staticmethod
    def delete(**kwargs: Any) -> requests.Response:
        return requests.delete(timeout=API_TIMEOUT_S, **kwargs)


toxiproxy.api.requests = _RequestsWithTimeout


def proxy_name(link: Link) -> str:
    return f"{link.source}_to_{link.upstream_service}"


@dataclass(frozen=True)
class ToxicState:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, Any]


class ToxiproxyServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._client = Toxiproxy()
        self._version: str | None = None

    @contextmanager
    def bound(self) -> Iterator[Toxiproxy]:
        """The library's client, pointed at this server; its errors become FaultErrors."""
        self._client.update_api_consumer(self.host, self.port)
        try:
            yield self._client
        except (InvalidToxic, NotFound, ProxyExists) as exc:
            raise FaultError(
                f"Toxiproxy at {self.host}:{self.port} refused: {_text(exc)}"
            ) from None
        except requests.RequestException as exc:
            raise FaultError(
                f"Toxiproxy at {self.host}:{self.port} did not answer ({exc}); "
                "is its container running?"
            ) from None

    def wait_ready(self, timeout_s: float, *, what: str, logs: Callable[[], str]) -> None:
        """Wait until the API answers GET /version; else raise with the server's log."""

        @tenacity.retry(
            retry=tenacity.retry_if_exception_type(requests.RequestException),
            stop=tenacity.stop_after_delay(timeout_s),
            wait=tenacity.wait_exponential(multiplier=0.02, max=0.5),
            reraise=True,
        )
        def probe() -> None:
            requests.get(f"http://{self.host}:{self.port}/version", timeout=1).raise_for_status()

        try:
            probe()
        except requests.RequestException as exc:
            log = logs()
            raise StartupError(
                f"the Toxiproxy of {what} did not answer its API within {timeout_s:.0f} s "
                f"({type(exc).__name__}); "
                + ("its log is below" if log.strip() else "it printed nothing"),
                service=what,
                logs=log,
            ) from None

    def version(self) -> str:
        """What GET /version answers: ``v2.12.0`` (``{"version": ...}`` is unwrapped)."""
        if self._version is None:
            with self.bound():
                reply = requests.get(f"http://{self.host}:{self.port}/version", timeout=2)
            self._version = _version_text(_checked(reply).text.strip())
        return self._version

    @property
    def http_toxics(self) -> bool:
        """Whether this server has the HTTP toxics (the harness's own build)."""
        from harness.proxies import has_http_toxics

        return has_http_toxics(self.version())

    def create(self, link: Link, listen: str, upstream: str) -> ProxyHandle:
        with self.bound() as client:
            proxy = client.create(
                upstream=upstream, name=proxy_name(link), listen=listen, enabled=True
            )
        return ProxyHandle(self, link, proxy)

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic (Toxiproxy's own POST /reset)."""
        with self.bound() as client:
            client.reset()


class ProxyHandle:
    """One proxied link: add and remove toxics, take it down and up."""

    def __init__(self, server: ToxiproxyServer, link: Link, proxy: Proxy) -> None:
        self.server = server
        self.link = link
        self.name = proxy_name(link)
        self._proxy = proxy

    @property
    def http_toxics(self) -> bool:
        return self.server.http_toxics

    def describe_server(self) -> str:
        return f"Toxiproxy {self.server.version()} at {self.server.host}:{self.server.port}"

    def add_toxic(
        self,
        name: str,
        type: str,
        stream: str,
        attributes: Mapping[str, Any],
        toxicity: float = 1.0,
    ) -> None:
        with self.server.bound():
            self._proxy.add_toxic(
                name=name,
                type=type,
                stream=stream,
                toxicity=toxicity,
                attributes=dict(attributes),
            )

    def remove_toxic(self, name: str) -> bool:
        """Remove a toxic; False if it was not there (healing twice is not an error)."""
        try:
            with self.server.bound():
                self._proxy.destroy_toxic(name)
        except FaultError:
            if any(t.name == name for t in self.toxics()):
                raise
            return False
        return True

    def toxics(self) -> list[ToxicState]:
        """The toxics on this link, faults all: the harness's request counter is left out."""
        return [t for t in self._all_toxics() if t.name != COUNTER]

    def add_counter(self) -> bool:
        """Put the request counter on this link (first in the chain of requests, so it sees
        every request its caller sends); False when this Toxiproxy has no ``http_count``."""
        if not self.http_toxics:
            return False
        try:
            self.add_toxic(COUNTER, COUNTER_TYPE, "upstream", {})
        except FaultError:
            # An image of an older build (x-chaos.proxy.image): the marker, no counter.
            return any(t.name == COUNTER for t in self._all_toxics())
        return True

    def requests_counted(self) -> int | None:
        """Requests that crossed this link since its counter was put on (None: it has none)."""
        for toxic in self._all_toxics():
            if toxic.name == COUNTER:
                return int(toxic.attributes.get("requests", 0))
        return None

    def _all_toxics(self) -> list[ToxicState]:
        with self.server.bound():
            found = self._proxy.toxics()
        return [
            ToxicState(
                name=t.name,
                type=t.type,
                stream=t.stream,
                toxicity=float(t.toxicity),
                attributes=dict(t.attributes or {}),
            )
            for t in found.values()
        ]

    def set_enabled(self, enabled: bool) -> None:
        with self.server.bound():
            if enabled:
                self._proxy.enable()
            else:
                self._proxy.disable()

    @property
    def enabled(self) -> bool:
        with self.server.bound() as client:
            proxy = client.get_proxy(self.name)
        if proxy is None:
            raise FaultError(f"the proxy {self.name!r} is gone from Toxiproxy; it was removed")
        return bool(proxy.enabled)


def _checked(reply: requests.Response) -> requests.Response:
    if reply.status_code >= 400:
        raise FaultError(
            f"Toxiproxy answered {reply.status_code} to {reply.request.method} "
            f"{reply.request.path_url}: {reply.text.strip()}"
        )
    return reply


def _version_text(reply: str) -> str:
    """Toxiproxy's ``/version`` answers ``{"version": "v2.12.0"}`` (older ones: plain text)."""
    import json

    try:
        parsed = json.loads(reply)
    except ValueError:
        return reply
    return str(parsed.get("version", reply)) if isinstance(parsed, dict) else reply


def _text(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)

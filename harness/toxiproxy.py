"""The Toxiproxy server of a running topology and its proxies, through ``toxiproxy-python``.

``toxiproxy-python`` keeps the server address in class attributes, so every call here
points it at this server first: the address belongs to this object, not to whichever
server was configured last. Its exceptions become :class:`FaultError` quoting the server.
It also sends every request without a timeout, so this module gives it one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
import toxiproxy.api
from toxiproxy import Proxy, Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.errors import FaultError
from harness.topology import Link

__all__ = ["API_TIMEOUT_S", "ProxyHandle", "ToxicState", "ToxiproxyServer", "proxy_name"]

# Toxiproxy answers its API in milliseconds; one that has not answered in this long is
# stuck (e.g. RemoveToxic blocked under the proxy's lock, Shopify/toxiproxy#558), and a
# FaultError now is better than a run that hangs for ever.
API_TIMEOUT_S = 15.0


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

    def version(self) -> str:
        with self.bound():
            reply = requests.get(f"http://{self.host}:{self.port}/version", timeout=2)
        return _checked(reply).text.strip()

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


def _text(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)

"""HTTP/1.1 clients built on libraries, to run under harness.load's own scheduler.

bench/load.py asks whether another parser library (h11) or aiohttp would hold the
open-model schedule as well as harness.load's own client (httptools, llhttp's parser,
since the bench showed it holds 2,000 req/s at the CPU the hand-written parser it
replaced used). To make the
client the only difference, each class here has the shape of that client (built with
``(host, port)`` inside the run's event loop; ``await request(method, target, headers,
body, deadline=...)``; ``close()``), raises the same errors, and :func:`scheduler_using`
makes ``run_load`` build it instead of its own: same planner, same connection slots,
same history. Like the harness's client, each keeps a pool of idle keep-alive
connections (the most recently used first) and opens a new one when none is idle.

These are bench code: enough HTTP/1.1 for a loopback endpoint (Content-Length, chunked,
close-delimited bodies).
"""

from __future__ import annotations

import asyncio
import warnings
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import h11

from harness.errors import ConfigError
from harness.load import scheduler as _scheduler_module
from harness.load.client import BadResponseError, NotSentError, Response
from harness.load.client import Client as HarnessClient

# The one harness internal this module relies on: the open-model scheduler builds its
# client as ``Client(host, port)``, looked up in harness.load.scheduler, which is the name
# scheduler_using swaps. The client's errors and Response are harness.load.client's own.
_SWAPPED_NAME = "Client"

MAX_BODY = 16 * 1024 * 1024
_HEADERS_WE_SET = frozenset({"host", "content-length"})


class SwapFailedError(RuntimeError):
    """The scheduler built its own client, not the one asked for: the internals moved."""


@contextmanager
def scheduler_using(client_class: type) -> Iterator[list[object]]:
    """While the block runs, ``run_load`` builds ``client_class(host, port)`` as its client.

    Yields the list of clients built; on exit, raises SwapFailedError if there were none
    (harness.load no longer builds its client where this module swaps it).
    """
    built: list[object] = []

    def build(host: str, port: int) -> object:
        client = client_class(host, port)
        built.append(client)
        return client

    original = getattr(_scheduler_module, _SWAPPED_NAME)
    setattr(_scheduler_module, _SWAPPED_NAME, build)
    try:
        yield built
    finally:
        setattr(_scheduler_module, _SWAPPED_NAME, original)
    if not built:
        raise SwapFailedError(
            f"run_load did not build {client_class.__name__}: harness.load.scheduler no longer "
            f"builds its client as {_SWAPPED_NAME}(host, port); fix _SWAPPED_NAME in "
            "bench/http_clients.py"
        )


def _host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _request_headers(
    host_header: str, method: str, headers: Mapping[str, str], body: bytes | None
) -> list[tuple[str, str]]:
    """The same header lines the harness's client sends: Host, the caller's, a length."""
    lines = [("Host", host_header)]
    lines.extend((k, v) for k, v in headers.items() if k.lower() not in _HEADERS_WE_SET)
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(("Content-Length", str(len(body or b""))))
    return lines


def _joined(pairs: Iterator[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


class _Wakeable(asyncio.Protocol):
    """A connection whose reader waits for the next received bytes (or their end)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _more(self) -> None:
        if self.closed:
            detail = f" ({self.error})" if self.error else ""
            raise BadResponseError(f"connection closed before the response ended{detail}")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    @property
    def idle_and_open(self) -> bool:
        transport = self.transport
        return not (self.closed or transport is None or transport.is_closing())

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Pooled:
    """Keep-alive connections to one host:port; the most recently used is reused first."""

    protocol: type[_Wakeable]

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.host_header = _host_header(host, port)
        self._idle: deque[Any] = deque()

    async def _connection(self, deadline: float) -> Any:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                _, connection = await loop.create_connection(self.protocol, self.host, self.port)
        except TimeoutError as exc:
            raise NotSentError("connect timed out") from exc
        except OSError as exc:
            raise NotSentError(str(exc) or type(exc).__name__) from exc
        return connection

    def _release(self, connection: Any, reusable: bool) -> None:
        if reusable:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


# -- h11: a sans-I/O state machine; we move the bytes ----------------------------------------


class _H11Connection(_Wakeable):
    def __init__(self) -> None:
        super().__init__()
        self.state = h11.Connection(h11.CLIENT)

    def data_received(self, data: bytes) -> None:
        self.state.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        self.state.receive_data(b"")
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.receive_data(b"")
        super().connection_lost(exc)

    async def next_event(self) -> Any:
        while (event := self.state.next_event()) is h11.NEED_DATA:
            await self._more()
        return event

    @property
    def reusable(self) -> bool:
        return self.idle_and_open and self.state.our_state is h11.IDLE


class H11Client(_Pooled):
    protocol = _H11Connection

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        deadline: float,
    ) -> Response:
        lines = _request_headers(self.host_header, method, headers, body)
        connection: _H11Connection = await self._connection(deadline)
        state = connection.state
        reusable = False
        try:
            try:
                payload = state.send(h11.Request(method=method, target=target, headers=lines))
                if body:
                    payload += state.send(h11.Data(data=body))
                payload += state.send(h11.EndOfMessage())
            except h11.LocalProtocolError as exc:
                raise ConfigError(f"h11 refused the request: {exc}") from exc
            async with asyncio.timeout_at(deadline):
                assert connection.transport is not None
                connection.transport.write(payload)
                status, fields, parts, size = 0, {}, [], 0
                while True:
                    event = await connection.next_event()
                    if isinstance(event, h11.Response):
                        status = event.status_code
                        fields = _joined(
                            (k.decode(), v.decode("latin-1")) for k, v in event.headers
                        )
                    elif isinstance(event, h11.Data):
                        size += len(event.data)
                        if size > MAX_BODY:
                            raise BadResponseError("response body larger than 16 MiB")
                        parts.append(bytes(event.data))
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        raise BadResponseError("connection closed before the response ended")
                    # h11.InformationalResponse (1xx): the final response follows
            if state.our_state is h11.DONE and state.their_state is h11.DONE:
                state.start_next_cycle()
                reusable = connection.reusable
            return Response(status, fields, b"".join(parts))
        except h11.RemoteProtocolError as exc:
            raise BadResponseError(f"h11: {exc}") from exc
        finally:
            self._release(connection, reusable)


# -- aiohttp: a whole client, its own pool ---------------------------------------------------


class AiohttpClient:
    def __init__(self, host: str, port: int) -> None:
        self.base = f"http://{_host_header(host, port)}"
        # No limit here: the scheduler's slots bound what is in flight, as for the others.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            # Only the headers the other clients send too.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            auto_decompress=False,
        )

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        deadline: float,
    ) -> Response:
        try:
            async with asyncio.timeout_at(deadline):
                async with self.session.request(
                    method,
                    self.base + target,
                    headers=dict(headers),
                    data=body,
                    allow_redirects=False,
                ) as reply:
                    raw = await reply.read()
                    return Response(reply.status, _joined(iter(reply.headers.items())), raw)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise NotSentError(str(exc) or type(exc).__name__) from exc
        except TimeoutError:
            raise
        except aiohttp.ClientError as exc:
            raise BadResponseError(f"aiohttp: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        # The scheduler closes its client without awaiting, and TCPConnector.close is a
        # coroutine. The base class's close shuts every socket before it returns (and
        # warns that it wants awaiting); detaching then marks the session closed.
        connector = self.session.connector
        if connector is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                aiohttp.BaseConnector.close(connector)
        self.session.detach()


CLIENTS: dict[str, Any] = {
    "harness": HarnessClient,
    "h11": H11Client,
    "aiohttp": AiohttpClient,
}

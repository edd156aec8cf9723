"""A keep-alive HTTP/1.1 client to one loopback host, for the load generator.

Responses are parsed by httptools (llhttp, the parser of Node.js and uvloop); this module
only pools connections and writes requests. ``bench/load.py`` chose it: at 2,000 req/s on
a 2-core machine it holds the open-model schedule as the hand-written parser it replaced
did, at the same CPU (about 22% of a core), while h11 and aiohttp need about 1.6 times
that. aiohttp, measured the same way, cost the schedule its precision once the services
under test wanted the CPU too.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httptools

from harness.errors import ConfigError

__all__ = ["BadResponseError", "Client", "NotSentError", "Response"]

_MAX_BODY: Final = 16 * 1024 * 1024
_HEADERS_WE_SET: Final = frozenset({"host", "content-length"})


class NotSentError(Exception):
    """The connection could not be made: no byte of the request left this process."""


class BadResponseError(Exception):
    """The request was written but no complete, well-formed response came back."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case; repeated fields joined with ", "
    body: bytes


class _HeadersDone(Exception):
    """Stops the parser after the head of a reply to HEAD, which has no body."""


class Connection(asyncio.Protocol):
    """One keep-alive connection; its parser's callbacks assemble the current response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: Exception | None = None
        self.parse_error: Exception | None = None
        self.method = "GET"
        self.awaiting = False  # a request was written and its response is not complete yet
        self._waiter: asyncio.Future[None] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._begin()

    def _begin(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.parts: list[bytes] = []
        self.size = 0
        self.head_done = False
        self.done = False
        self.keep_alive = False

    # -- llhttp's callbacks, called from feed_data ---------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.head_done = True
        if self.method == "HEAD" and self.status >= 200:
            self.keep_alive = self._parser.should_keep_alive()
            self.done = True
            raise _HeadersDone  # whatever Content-Length says, no body follows

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > _MAX_BODY:
            raise BadResponseError("response body larger than 16 MiB")
        self.parts.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200 and self.status != 101:
            self._begin()  # 100 Continue, 103 Early Hints: the final response follows
            return
        self.keep_alive = self._parser.should_keep_alive()
        self.done = True

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.awaiting or self.done:
            self.parse_error = BadResponseError("bytes arrived that no request asked for")
        else:
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserCallbackError as exc:
                cause = exc.__context__
                if not isinstance(cause, _HeadersDone):
                    self.parse_error = cause if isinstance(cause, Exception) else exc
                # The parser stopped in the middle of a message: a new one for the next.
                self._parser = httptools.HttpResponseParser(self)
            except httptools.HttpParserError as exc:
                self.parse_error = exc
        self._wake()

    def eof_received(self) -> bool:
        framed = "content-length" in self.headers or "transfer-encoding" in self.headers
        if self.head_done and not self.done and not framed:
            self.done = True  # a close-delimited body ends with the connection
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    # -- for the client --------------------------------------------------------------------

    async def response(self) -> tuple[Response, bool]:
        """The response to the request just written; also whether the connection can
        carry another."""
        try:
            return await self._complete_response()
        finally:
            self.awaiting = False

    async def _complete_response(self) -> tuple[Response, bool]:
        while not self.done:
            if self.parse_error is not None:
                raise BadResponseError(f"malformed response: {self.parse_error}")
            if self.closed:
                detail = f" ({self.error})" if self.error else ""
                where = "mid-response" if self.status or self.parts else "before any response"
                raise BadResponseError(f"connection closed {where}{detail}")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        response = Response(self.status, self.headers, b"".join(self.parts))
        reusable = self.keep_alive and not self.closed and self.parse_error is None
        self._begin()
        return response, reusable

    @property
    def reusable(self) -> bool:
        # Unsolicited bytes on an idle connection (a 408 before closing) spoil it too.
        transport = self.transport
        return not (
            self.closed
            or self.parse_error is not None
            or transport is None
            or transport.is_closing()
        )

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Client:
    """Keep-alive HTTP/1.1 to one host:port with a pool of idle connections."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._idle: deque[Connection] = deque()

    async def _connection(self, deadline: float) -> Connection:
        while self._idle:
            connection = self._idle.pop()  # the most recently used is the least likely stale
            if connection.reusable:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                _, connection = await loop.create_connection(Connection, self.host, self.port)
        except TimeoutError as exc:
            raise NotSentError("connect timed out") from exc
        except OSError as exc:
            raise NotSentError(str(exc) or type(exc).__name__) from exc
        return connection

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        deadline: float,
    ) -> Response:
        """Send one request and read its response, all before ``deadline`` (loop time).

        Raises NotSentError if no connection could be made, TimeoutError past the
        deadline, BadResponseError or OSError if the exchange broke after sending.
        """
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}"]
        lines.extend(f"{k}: {v}" for k, v in headers.items() if k.lower() not in _HEADERS_WE_SET)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        if any("\r" in line or "\n" in line for line in lines):
            # A line break would smuggle a header or a second request onto the wire.
            raise ConfigError(f"line break in the request line or a header: {lines!r}")
        connection = await self._connection(deadline)
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        reusable = False
        try:
            async with asyncio.timeout_at(deadline):
                assert connection.transport is not None
                connection.method, connection.awaiting = method, True
                connection.transport.write(payload)
                response, reusable = await connection.response()
            return response
        finally:
            # Anything short of a complete response leaves the connection unusable.
            if reusable:
                self._idle.append(connection)
            else:
                connection.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

"""A lean keep-alive HTTP/1.1 client to one loopback host, for the load generator.

aiohttp cost about 300-370 us of CPU per request here, so 2,000 req/s took ~70% of a
core and the schedule slipped as soon as the services under test wanted the CPU too.
This client does only what the generator needs (keep-alive HTTP/1.1 to one loopback
host, Content-Length / chunked / close-delimited bodies) for about a third of that;
``bench/load.py`` measures it against h11, httptools and aiohttp side by side.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from harness.errors import ConfigError

__all__ = ["BadResponseError", "Client", "NotSentError", "Response"]

_MAX_HEAD: Final = 64 * 1024
_MAX_BODY: Final = 16 * 1024 * 1024
_BODYLESS_STATUSES: Final = frozenset({204, 304})
_HEADERS_WE_SET: Final = frozenset({"host", "content-length"})


class NotSentError(Exception):
    """The connection could not be made: no byte of the request left this process."""


class BadResponseError(Exception):
    """The request was written but no complete, well-formed response came back."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class Connection(asyncio.Protocol):
    """One keep-alive connection: received bytes pile up in ``buffer`` and wake a reader."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _more(self, *, eof_ok: bool = False) -> None:
        if self.closed:
            if eof_ok:
                return
            detail = f" ({self.error})" if self.error else ""
            where = "mid-response" if self.buffer else "before any response byte"
            raise BadResponseError(f"connection closed {where}{detail}")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def _read_until(self, marker: bytes, limit: int) -> bytes:
        searched = 0
        while (end := self.buffer.find(marker, searched)) < 0:
            if len(self.buffer) > limit:
                raise BadResponseError(f"no {marker!r} within {limit} bytes")
            searched = max(0, len(self.buffer) - len(marker) + 1)
            await self._more()
        chunk = bytes(self.buffer[:end])
        del self.buffer[: end + len(marker)]
        return chunk

    async def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._more()
        chunk = bytes(self.buffer[:size])
        del self.buffer[:size]
        return chunk

    async def _read_to_eof(self) -> bytes:
        while not self.closed:
            if len(self.buffer) > _MAX_BODY:
                raise BadResponseError("response body larger than 16 MiB")
            await self._more(eof_ok=True)
        body = bytes(self.buffer)
        self.buffer.clear()
        return body

    async def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = await self._read_until(b"\r\n", 1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadResponseError(f"bad chunk size line {size_line[:40]!r}") from None
            if size == 0:
                while await self._read_until(b"\r\n", _MAX_HEAD):
                    pass  # trailer fields, ended by an empty line
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                raise BadResponseError("response body larger than 16 MiB")
            parts.append(await self._read_exactly(size))
            if await self._read_exactly(2) != b"\r\n":
                raise BadResponseError("chunk data not followed by CRLF")

    async def read_response(self, method: str) -> tuple[Response, bool]:
        """Read one response; also say whether the connection can carry another request."""
        while True:
            head = (await self._read_until(b"\r\n\r\n", _MAX_HEAD)).decode("latin-1")
            lines = head.split("\r\n")
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
                raise BadResponseError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
            status = int(rest[:3])
            if not 100 <= status < 200 or status == 101:
                break  # anything else is final; 1xx (100 Continue, 103) come before it
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, field_value = line.partition(":")
            key, field_value = name.strip().lower(), field_value.strip()
            headers[key] = f"{headers[key]}, {field_value}" if key in headers else field_value
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        if method == "HEAD" or status in _BODYLESS_STATUSES or status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked()
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit() or int(length) > _MAX_BODY:
                raise BadResponseError(f"unusable Content-Length {length!r}")
            body = await self._read_exactly(int(length))
        else:
            body = await self._read_to_eof()
            keep_alive = False
        return Response(status, headers, body), keep_alive and not self.closed

    @property
    def reusable(self) -> bool:
        # Unsolicited bytes on an idle connection (a 408 before closing) spoil it too.
        transport = self.transport
        return not (self.closed or self.buffer or transport is None or transport.is_closing())

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
        if any("\r" in line or "\n" in line for line in lines):
            # A line break would smuggle a header or a second request onto the wire.
            raise ConfigError(f"line break in the request line or a header: {lines!r}")
        connection = await self._connection(deadline)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        reusable = False
        try:
            async with asyncio.timeout_at(deadline):
                assert connection.transport is not None
                connection.transport.write(payload)
                response, reusable = await connection.read_response(method)
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

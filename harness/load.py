"""Open-model load generator: requests leave at planned times and land in a History.

Closed-model load (send, wait, send) slows down when the service slows down and so hides
exactly the overload a chaos test wants to see. Here request ``i`` is planned for
``start + i / rate`` and is sent then whether or not earlier ones have answered; how late
it really left (the schedule lag) is measured so a lagging generator cannot pass itself
off as the service's fault.

The generator runs its own asyncio loop in a thread, so sync pytest code can call
``run_load`` or keep load going in the background with ``start_load`` while it breaks
things. It speaks keep-alive HTTP/1.1 itself (see the client section for why) and only
ever talks to loopback addresses.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import json
import math
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from harness.errors import ChaosError, ConfigError
from harness.history import FAIL, INFO, OK, History, Op

# Upper bounds that catch typos (rate=20000 meant as 2000, seconds in ms) long before
# they turn into a run that never ends or a machine out of file descriptors.
MAX_RATE: Final = 20_000.0
MAX_SECONDS: Final = 600.0
MAX_REQUESTS: Final = 1_000_000
MAX_TIMEOUT: Final = 120.0
MAX_CONNECTIONS: Final = 4_096
DEFAULT_CONNECTIONS: Final = 1_024
LAG_GRACE_S: Final = 1.0
STOP_CHECK_S: Final = 0.1

# Bodies larger than this are not parsed into the history: it would balloon and no
# invariant reads large bodies.
MAX_PARSED_BODY: Final = 64 * 1024
CAPTURED_RESPONSE_HEADERS: Final = ("X-Request-ID", "Retry-After")
CAPTURED_REQUEST_HEADERS: Final = ("Idempotency-Key", "X-Request-ID")
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

    A 5xx on a safe method (GET, HEAD, ...) is a fail because a read has no effect to
    lose. PUT and DELETE are idempotent but not safe: their 5xx may have applied the
    change, so they are info like POST (a retry is harmless, the outcome still unknown).
    """
    if outcome.status is None:
        return INFO if outcome.maybe_sent else FAIL
    if 200 <= outcome.status < 300:
        return OK
    if 400 <= outcome.status < 500 or outcome.status == 503:
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


@dataclass(frozen=True)
class LoadResult:
    """The history a run wrote plus how well the generator kept its schedule."""

    history: History
    planned: int
    sent: int
    elapsed_s: float
    achieved_rate: float
    lags_ms: tuple[float, ...] = field(repr=False)
    outcomes: Mapping[str, int]
    # Reaching max_connections means requests waited for a free connection: the lag then
    # says the service could not keep up rather than that the generator fell behind.
    max_in_flight: int = 0
    max_connections: int = DEFAULT_CONNECTIONS

    def lag_percentile_ms(self, q: float) -> float:
        """The q-th percentile (0-100) of schedule lag, nearest-rank; 0.0 if none sent."""
        if not self.lags_ms:
            return 0.0
        ordered = sorted(self.lags_ms)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    @property
    def lag_p50_ms(self) -> float:
        return self.lag_percentile_ms(50)

    @property
    def lag_p99_ms(self) -> float:
        return self.lag_percentile_ms(99)

    @property
    def lag_max_ms(self) -> float:
        return max(self.lags_ms, default=0.0)

    def summary(self) -> str:
        counts = " ".join(f"{kind}={self.outcomes.get(kind, 0)}" for kind in (OK, FAIL, INFO))
        return (
            f"sent {self.sent}/{self.planned} at {self.achieved_rate:.0f}/s, {counts}, "
            f"lag p50 {self.lag_p50_ms:.2f} ms p99 {self.lag_p99_ms:.2f} ms "
            f"max {self.lag_max_ms:.2f} ms, in flight max {self.max_in_flight}"
            f"/{self.max_connections}"
        )


def _parse_request(request: str) -> tuple[str, str]:
    method, _, path = request.strip().partition(" ")
    path = path.strip()
    if not method.isalpha() or not path.startswith("/"):
        raise ConfigError(f"request {request!r} should look like 'GET /products/1'")
    return method.upper(), path


def _request_factory(request: str | RequestFactory, body: Body) -> RequestFactory:
    if not isinstance(request, str):
        if body is not None:
            raise ConfigError(
                "pass body= only with a 'METHOD /path' request; a callable returns its own body"
            )
        return request
    method, path = _parse_request(request)

    def same_request_every_time(_: int) -> RequestSpec:
        return method, path, None, body

    return same_request_every_time


def _check_bounds(
    rate: float, seconds: float, max_requests: int, timeout: float, connections: int
) -> None:
    checks = (
        ("rate", rate, 0.0, MAX_RATE),
        ("seconds", seconds, 0.0, MAX_SECONDS),
        ("max_requests", max_requests, 0, MAX_REQUESTS),
        ("timeout", timeout, 0.0, MAX_TIMEOUT),
        ("max_connections", connections, 0, MAX_CONNECTIONS),
    )
    for name, value, low, high in checks:
        wrong_type = isinstance(value, bool) or (
            isinstance(low, int) and not isinstance(value, int)
        )
        if wrong_type or not (low < value <= high):
            raise ConfigError(
                f"load {name}={value!r} is out of range; use {low} < {name} <= {high}"
            )


def _encode_body(body: Body, headers: dict[str, str]) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return json.dumps(body).encode()


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw or len(raw) > MAX_PARSED_BODY or "json" not in content_type:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


# -- a lean HTTP/1.1 client -------------------------------------------------------------
#
# aiohttp cost about 300-370 us of CPU per request here, so 2,000 req/s took ~70% of a
# core and the schedule slipped as soon as the services under test wanted the CPU too.
# This client does only what the generator needs (keep-alive HTTP/1.1 to one loopback
# host, Content-Length / chunked / close-delimited bodies) for about a third of that.

_MAX_HEAD: Final = 64 * 1024
_MAX_BODY: Final = 16 * 1024 * 1024
_BODYLESS_STATUSES: Final = frozenset({204, 304})
_HEADERS_WE_SET: Final = frozenset({"host", "content-length"})


class _NotSentError(Exception):
    """The connection could not be made: no byte of the request left this process."""


class _BadResponseError(Exception):
    """The request was written but no complete, well-formed response came back."""


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class _Connection(asyncio.Protocol):
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
            raise _BadResponseError(f"connection closed {where}{detail}")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def _read_until(self, marker: bytes, limit: int) -> bytes:
        searched = 0
        while (end := self.buffer.find(marker, searched)) < 0:
            if len(self.buffer) > limit:
                raise _BadResponseError(f"no {marker!r} within {limit} bytes")
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
                raise _BadResponseError("response body larger than 16 MiB")
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
                raise _BadResponseError(f"bad chunk size line {size_line[:40]!r}") from None
            if size == 0:
                while await self._read_until(b"\r\n", _MAX_HEAD):
                    pass  # trailer fields, ended by an empty line
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                raise _BadResponseError("response body larger than 16 MiB")
            parts.append(await self._read_exactly(size))
            if await self._read_exactly(2) != b"\r\n":
                raise _BadResponseError("chunk data not followed by CRLF")

    async def read_response(self, method: str) -> tuple[_Response, bool]:
        """Read one response; also say whether the connection can carry another request."""
        while True:
            head = (await self._read_until(b"\r\n\r\n", _MAX_HEAD)).decode("latin-1")
            lines = head.split("\r\n")
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
                raise _BadResponseError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
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
                raise _BadResponseError(f"unusable Content-Length {length!r}")
            body = await self._read_exactly(int(length))
        else:
            body = await self._read_to_eof()
            keep_alive = False
        return _Response(status, headers, body), keep_alive and not self.closed

    @property
    def reusable(self) -> bool:
        # Unsolicited bytes on an idle connection (a 408 before closing) spoil it too.
        transport = self.transport
        return not (self.closed or self.buffer or transport is None or transport.is_closing())

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Client:
    """Keep-alive HTTP/1.1 to one host:port with a pool of idle connections."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._idle: deque[_Connection] = deque()

    async def _connection(self, deadline: float) -> _Connection:
        while self._idle:
            connection = self._idle.pop()  # the most recently used is the least likely stale
            if connection.reusable:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except TimeoutError as exc:
            raise _NotSentError("connect timed out") from exc
        except OSError as exc:
            raise _NotSentError(str(exc) or type(exc).__name__) from exc
        return connection

    async def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        deadline: float,
    ) -> _Response:
        """Send one request and read its response, all before ``deadline`` (loop time).

        Raises _NotSentError if no connection could be made, TimeoutError past the
        deadline, _BadResponseError or OSError if the exchange broke after sending.
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


class _Slots:
    """At most ``limit`` requests in flight; the rest wait in arrival order.

    asyncio.Semaphore wakes a waiter by scanning its queue, which turns quadratic when a
    stall leaves hundreds waiting, just when the generator most needs to catch up.
    Here a release hands its slot straight to the oldest live waiter.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self.used < self.limit and not self._waiters:
            self.used += 1
            self.peak = max(self.peak, self.used)
            return
        handed = asyncio.get_running_loop().create_future()
        self._waiters.append(handed)
        try:
            await handed  # release() passed its slot on: ``used`` already counts it
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self.release()  # the slot arrived just as the wait was cancelled
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        while self._waiters:
            handed = self._waiters.popleft()
            if not handed.done():  # cancelled waiters are skipped
                handed.set_result(None)
                return
        self.used -= 1


class _Run:
    """The state of one run inside its event loop thread."""

    def __init__(
        self,
        base_url: str,
        factory: RequestFactory,
        *,
        rate: float,
        planned: int,
        seconds: float,
        timeout: float,
        connections: int,
        static_headers: Mapping[str, str],
        history: History,
        classify: Classify,
    ) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path_prefix = parts.path.rstrip("/")
        self.factory = factory
        self.rate = rate
        self.planned = planned
        self.seconds = seconds
        self.timeout = timeout
        self.connections = connections
        self.static_headers = dict(static_headers)
        self.history = history
        self.classify = classify
        # Concurrent runs or earlier runs may share the history: never reuse a process.
        self.first_process = max((op.process for op in history), default=-1) + 1
        self.lags_ms: list[float] = []
        self.outcomes: Counter[str] = Counter()
        self.sent = 0
        self.slots = _Slots(connections)
        self.first_send: float | None = None
        self.last_send = 0.0
        self.stop_requested = threading.Event()
        self.task_errors: list[BaseException] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> tuple[float, float]:
        client = _Client(self.host, self.port)
        try:
            tasks = self._tasks
            start = self.history.now() + 0.005
            for i in range(self.planned):
                planned_at = start + i / self.rate
                # Short naps at low rates so stop() takes effect promptly.
                while (delay := planned_at - self.history.now()) > 0:
                    if self.stop_requested.is_set():
                        break
                    await asyncio.sleep(min(delay, STOP_CHECK_S))
                if self.stop_requested.is_set() or self._overran(start):
                    break
                task = asyncio.create_task(self._one(client, i, planned_at))
                tasks.add(task)
                task.add_done_callback(self._forget)
            if tasks:
                # Every request has its own timeout; the margin only covers bookkeeping.
                _, stuck = await asyncio.wait(set(tasks), timeout=self.timeout + 5.0)
                for task in stuck:
                    task.cancel()
                if stuck:
                    await asyncio.wait(stuck)
        finally:
            client.close()
        if self.task_errors:
            # A bug in the caller's request factory or classifier: surface it, not a
            # silently short history.
            raise self.task_errors[0]
        return start, self.history.now()

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.task_errors.append(error)

    def _overran(self, start: float) -> bool:
        # A generator more than LAG_GRACE behind its plan is no longer an open model;
        # stopping keeps the duration bound hard, and sent < planned tells the story.
        return self.history.now() - start >= self.seconds + LAG_GRACE_S

    async def _one(
        self,
        client: _Client,
        index: int,
        planned_at: float,
    ) -> None:
        method, path, extra_headers, body = self.factory(index)
        headers = dict(self.static_headers)
        headers.update(extra_headers or {})
        data = _encode_body(body, headers)
        invoke_value = self._invoke_value(method, path, headers, body)
        # Taking a slot before stamping the invoke makes a wait for a free connection
        # show up as schedule lag instead of hiding inside the client.
        async with self.slots:
            invoke_op = self.history.invoke(
                self.first_process + index, f"{method} {path}", invoke_value
            )
            self._count_send(invoke_op, planned_at)
            loop_clock = asyncio.get_running_loop().time
            began = loop_clock()
            status: int | None = None
            error: str | None = None
            maybe_sent = True
            value: dict[str, Any] = {}
            try:
                response = await client.request(
                    method, self.path_prefix + path, headers, data, deadline=began + self.timeout
                )
                status = response.status
                value["body"] = _parse_body(response.body, response.headers.get("content-type", ""))
                captured = {
                    name: response.headers[name.lower()]
                    for name in CAPTURED_RESPONSE_HEADERS
                    if name.lower() in response.headers
                }
                if captured:
                    value["headers"] = captured
            except _NotSentError as exc:
                # No byte of the request left this process: it cannot have had an effect.
                error, maybe_sent = f"connect: {exc}", False
            except TimeoutError:
                error = f"timeout after {self.timeout} s"
            except (_BadResponseError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            except asyncio.CancelledError:
                # Only a request stuck past every timeout is cancelled; record it so every
                # invoke still has exactly one completion.
                self._complete(invoke_op, method, None, "cancelled", True, loop_clock() - began)
                raise
            self._complete(
                invoke_op, method, status, error, maybe_sent, loop_clock() - began, value
            )

    def _complete(
        self,
        invoke_op: Op,
        method: str,
        status: int | None,
        error: str | None,
        maybe_sent: bool,
        elapsed: float,
        value: dict[str, Any] | None = None,
    ) -> None:
        kind = self.classify(Outcome(method, status, error, maybe_sent))
        completion = {"status": status, "latency_ms": round(elapsed * 1000, 3), "body": None}
        completion.update(value or {})
        self.history.complete(invoke_op, kind, completion, error)
        self.outcomes[kind] += 1

    def _count_send(self, invoke_op: Op, planned_at: float) -> None:
        self.lags_ms.append(max(0.0, invoke_op.time - planned_at) * 1000)
        self.sent += 1
        if self.first_send is None:
            self.first_send = invoke_op.time
        self.last_send = invoke_op.time

    @staticmethod
    def _invoke_value(
        method: str, path: str, headers: Mapping[str, str], body: Body
    ) -> dict[str, Any]:
        value: dict[str, Any] = {"method": method, "path": path}
        wanted = {name.lower(): name for name in CAPTURED_REQUEST_HEADERS}
        captured = {wanted[k.lower()]: v for k, v in headers.items() if k.lower() in wanted}
        if captured:
            value["headers"] = captured
        if isinstance(body, dict | list):
            value["body"] = body
        return value


class LoadRun:
    """Load running in the background; ``wait()`` returns its LoadResult.

    Use as a context manager to stop sending and collect the result on exit.
    """

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._result: LoadResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="chaos-load", daemon=True)
        self._thread.start()

    @property
    def history(self) -> History:
        """The history being written (its clock is the one to stamp events against)."""
        return self._run.history

    def _main(self) -> None:
        # A full collection walks every tracked object in the process (a pytest session
        # holds hundreds of thousands) and stalls the schedule for tens of ms. Freezing
        # moves what exists now out of the collector's sight for the run's duration; what
        # the run itself allocates is still collected.
        gc.freeze()
        try:
            start, end = asyncio.run(self._run.run())
        except BaseException as exc:  # handed to the caller's thread by wait()
            self._error = exc
            return
        finally:
            gc.unfreeze()
        run = self._run
        span = (run.last_send - start) + 1 / run.rate if run.sent else 0.0
        self._result = LoadResult(
            history=run.history,
            planned=run.planned,
            sent=run.sent,
            elapsed_s=end - start,
            achieved_rate=run.sent / span if span > 0 else 0.0,
            lags_ms=tuple(run.lags_ms),
            outcomes=dict(run.outcomes),
            max_in_flight=run.slots.peak,
            max_connections=run.connections,
        )

    def stop(self) -> None:
        """Send nothing more; requests in flight still complete (or time out)."""
        self._run.stop_requested.set()

    def wait(self, timeout: float | None = None) -> LoadResult:
        """Block until the run has finished and return its result."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise ChaosError(
                f"load did not finish within {timeout} s; call stop() first or wait longer"
            )
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.wait()


def start_load(
    base_url: str,
    request: str | RequestFactory,
    *,
    rate: float,
    seconds: float,
    max_requests: int,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    body: Body = None,
    history: History | None = None,
    classify: Classify = default_classify,
    max_connections: int = DEFAULT_CONNECTIONS,
) -> LoadRun:
    """Start open-model load in a background thread; see ``run_load`` for the arguments."""
    require_loopback(base_url)
    if urlsplit(base_url).scheme != "http":
        raise ConfigError(f"{base_url!r}: the load generator speaks plain http:// only")
    _check_bounds(rate, seconds, max_requests, timeout, max_connections)
    factory = _request_factory(request, body)
    # Arrival i is at i / rate; arrivals strictly inside the duration count.
    planned = min(max_requests, math.ceil(rate * seconds - 1e-9))
    run = _Run(
        base_url,
        factory,
        rate=rate,
        planned=planned,
        seconds=seconds,
        timeout=timeout,
        connections=max_connections,
        static_headers=headers or {},
        history=history if history is not None else History(),
        classify=classify,
    )
    return LoadRun(run)


def run_load(
    base_url: str,
    request: str | RequestFactory,
    *,
    rate: float,
    seconds: float,
    max_requests: int,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    body: Body = None,
    history: History | None = None,
    classify: Classify = default_classify,
    max_connections: int = DEFAULT_CONNECTIONS,
) -> LoadResult:
    """Send ``rate`` requests per second for ``seconds`` (at most ``max_requests``).

    ``request`` is ``"METHOD /path"`` (with optional ``headers`` and ``body``) or a
    callable ``index -> (method, path, headers, body)`` for requests that differ, such as
    unique Idempotency-Keys. ``body`` may be bytes, str or JSON (dict/list). Each request
    gives ``timeout`` seconds to answer. Every request is recorded in ``history`` (a new
    one if None) as an invoke and one ok/fail/info completion chosen by ``classify``.
    Blocks until the last request has completed or timed out.

    At most ``max_connections`` requests are in flight; when that many are, later ones
    wait and the wait counts as schedule lag (``LoadResult.max_in_flight`` shows it).
    While a run lasts the process's existing objects are ``gc.freeze()``-ed so a full
    collection cannot stall the schedule; they are unfrozen when it ends.
    """
    return start_load(
        base_url,
        request,
        rate=rate,
        seconds=seconds,
        max_requests=max_requests,
        timeout=timeout,
        headers=headers,
        body=body,
        history=history,
        classify=classify,
        max_connections=max_connections,
    ).wait()

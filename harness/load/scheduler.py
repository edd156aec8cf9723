"""The open-model scheduler: requests leave at planned times and land in a History.

Closed-model load (send, wait, send) slows down when the service slows down and so hides
exactly the overload a chaos test wants to see. Here request ``i`` is planned for
``start + i / rate`` and is sent then whether or not earlier ones have answered; how late
it really left (the schedule lag) is measured so a lagging generator cannot pass itself
off as the service's fault.

The generator runs its own asyncio loop in a thread, so sync pytest code can call
``run_load`` or keep load going in the background with ``start_load`` while it breaks
things. It only ever talks to loopback addresses.
"""

from __future__ import annotations

import asyncio
import gc
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from harness.errors import ChaosError, ConfigError
from harness.history import FAIL, INFO, OK, History, Op
from harness.load.client import BadResponseError, Client, NotSentError
from harness.load.gate import InFlightGate
from harness.load.requests import (
    DEFAULT_CAPTURED_HEADERS,
    Body,
    Classify,
    Outcome,
    RequestFactory,
    default_classify,
    encode_body,
    read_body,
    request_factory,
    require_loopback,
)

__all__ = ["LoadResult", "LoadRun", "run_load", "start_load"]

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

    def answers(self) -> str:
        """What the clients saw, per status, most frequent first: ``30 requests: 504 x 28 in
        2002-2006 ms (median 2003), 502 x 2 in 1011-1012 ms (median 1011)``; requests
        without an answer are grouped by their error."""
        took: dict[str, list[float]] = {}
        for invoke_op, done in self.history.completed():
            value = done.value if isinstance(done.value, dict) else {}
            status, latency = value.get("status"), value.get("latency_ms")
            if not isinstance(latency, int | float):
                latency = (done.time - invoke_op.time) * 1000
            key = str(status) if isinstance(status, int) else f"no answer ({done.error})"
            took.setdefault(key, []).append(latency)
        parts = []
        for key, values in sorted(took.items(), key=lambda item: -len(item[1])):
            values.sort()
            low, median, high = values[0], values[(len(values) - 1) // 2], values[-1]
            parts.append(f"{key} x {len(values)} in {low:.0f}-{high:.0f} ms (median {median:.0f})")
        unfinished = len(self.history.open())
        if unfinished:
            parts.append(f"{unfinished} never completed")
        total = sum(len(values) for values in took.values()) + unfinished
        return f"{total} requests: {', '.join(parts) or 'none'}"

    def summary(self) -> str:
        counts = " ".join(f"{kind}={self.outcomes.get(kind, 0)}" for kind in (OK, FAIL, INFO))
        return (
            f"sent {self.sent}/{self.planned} at {self.achieved_rate:.0f}/s, {counts}, "
            f"lag p50 {self.lag_p50_ms:.2f} ms p99 {self.lag_p99_ms:.2f} ms "
            f"max {self.lag_max_ms:.2f} ms, in flight max {self.max_in_flight}"
            f"/{self.max_connections}"
        )


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
        capture_headers: Iterable[str],
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
        self.capture_headers = tuple(capture_headers)
        # Concurrent runs or earlier runs may share the history: never reuse a process.
        self.first_process = max((op.process for op in history), default=-1) + 1
        self.lags_ms: list[float] = []
        self.outcomes: Counter[str] = Counter()
        self.sent = 0
        self.slots = InFlightGate(connections)
        self.first_send: float | None = None
        self.last_send = 0.0
        self.stop_requested = threading.Event()
        self.task_errors: list[BaseException] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> tuple[float, float]:
        client = Client(self.host, self.port)
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
        client: Client,
        index: int,
        planned_at: float,
    ) -> None:
        method, path, extra_headers, body = self.factory(index)
        headers = dict(self.static_headers)
        headers.update(extra_headers or {})
        invoke_value = self._invoke_value(method, path, headers, body)
        data = encode_body(body, headers)
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
                content_type = response.headers.get("content-type", "")
                value.update(read_body(response.body, content_type))
                captured = {
                    name: response.headers[name.lower()]
                    for name in self.capture_headers
                    if name.lower() in response.headers
                }
                if captured:
                    value["headers"] = captured
            except NotSentError as exc:
                # No byte of the request left this process: it cannot have had an effect.
                error, maybe_sent = f"connect: {exc}", False
            except TimeoutError:
                error = f"timeout after {self.timeout} s"
            except (BadResponseError, OSError) as exc:
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
        """What the history keeps of a request: every header the caller set (its own
        idempotency keys and request IDs, say), and a JSON body."""
        value: dict[str, Any] = {"method": method, "path": path}
        if headers:
            value["headers"] = dict(headers)
        if isinstance(body, dict | list):
            value["body"] = body
        return value


class LoadRun:
    """Load running in the background; ``wait()`` returns its LoadResult.

    Use as a context manager to stop sending and collect the result on exit.
    """

    def __init__(self, run: _Run, on_done: Callable[[LoadResult], None] | None = None) -> None:
        self._run = run
        self._on_done = on_done  # told the result once, in the thread that first waits
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
        if self._on_done is not None:
            on_done, self._on_done = self._on_done, None
            on_done(self._result)
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
    capture_headers: Iterable[str] = DEFAULT_CAPTURED_HEADERS,
    on_done: Callable[[LoadResult], None] | None = None,
) -> LoadRun:
    """Start open-model load in a background thread; see ``run_load`` for the arguments.

    ``on_done`` is called with the result the first time ``wait()`` returns it.
    """
    require_loopback(base_url)
    if urlsplit(base_url).scheme != "http":
        raise ConfigError(f"{base_url!r}: the load generator speaks plain http:// only")
    _check_bounds(rate, seconds, max_requests, timeout, max_connections)
    factory = request_factory(request, body)
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
        capture_headers=capture_headers,
    )
    return LoadRun(run, on_done)


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
    capture_headers: Iterable[str] = DEFAULT_CAPTURED_HEADERS,
) -> LoadResult:
    """Send ``rate`` requests per second for ``seconds`` (at most ``max_requests``).

    ``request`` is ``"METHOD /path"`` (with optional ``headers`` and ``body``) or a
    callable ``index -> (method, path, headers, body)`` for requests that differ, such as
    unique Idempotency-Keys. ``body`` may be bytes, str or JSON (dict/list). Each request
    gives ``timeout`` seconds to answer. Every request is recorded in ``history`` (a new
    one if None) as an invoke and one ok/fail/info completion chosen by ``classify``
    (:func:`~harness.load.requests.default_classify` unless the system's contract says
    more). A completion keeps the status, the latency, the JSON body (or the first
    characters of a body that is not JSON, as ``text``) and the response headers named in
    ``capture_headers``; an invoke keeps every header the caller set.
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
        capture_headers=capture_headers,
    ).wait()

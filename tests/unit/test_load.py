"""Unit tests for harness.load against real HTTP servers on 127.0.0.1.

Timing is checked only with generous ratios: a loaded CI machine must not flake these.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from harness.errors import ConfigError
from harness.history import History
from harness.load import (
    LoadResult,
    Outcome,
    RequestSpec,
    default_classify,
    require_loopback,
    run_load,
    start_load,
)


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True}, headers={"X-Request-ID": "rid-1"})


async def _missing(request: web.Request) -> web.Response:
    return web.json_response({"error": "not found"}, status=404)


async def _shed(request: web.Request) -> web.Response:
    return web.json_response({"error": "busy"}, status=503, headers={"Retry-After": "1"})


async def _boom(request: web.Request) -> web.Response:
    return web.Response(status=500, text="internal error")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(int(request.query.get("ms", "300")) / 1000)
    return web.json_response({"slow": True})


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(
        {"key": request.headers.get("Idempotency-Key"), "body": await request.json()}
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """An aiohttp server in its own loop thread; yields its base URL."""
    app = web.Application()
    for path, handler in [("/ok", _ok), ("/missing", _missing)]:
        app.router.add_get(path, handler)
    app.router.add_route("*", "/shed", _shed)
    app.router.add_route("*", "/boom", _boom)
    app.router.add_route("*", "/slow", _slow)
    app.router.add_post("/echo", _echo)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(runner.addresses[0][1])
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port[0]}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def resetting_server() -> Iterator[str]:
    """Reads each request in full, then resets the connection (RST) without answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                # linger 0: close sends RST, as a crashing server or a reset toxic does.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    listener.close()


# Raw responses by path for the scripted server; "close" ones end the connection after.
SCRIPTED: dict[str, tuple[bytes, bool]] = {
    "/chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nX-Request-ID: chunky\r\n\r\n"
        b'7;ext=1\r\n{"a": [\r\n5\r\n1, 2]\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n',
        False,
    ),
    "/until-close": (
        b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"eof": true}',
        True,
    ),
    "/no-content": (b"HTTP/1.1 204 No Content\r\n\r\n", False),
    "/interim": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n"
        b"Content-Type: application/json\r\n\r\n{}",
        False,
    ),
    "/head": (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", False),
    "/garbage": (b"SPDY/9 what\r\n\r\n", True),
    "/truncated": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", True),
}


@pytest.fixture
def scripted_server() -> Iterator[tuple[str, list[int]]]:
    """Answers each path with a fixed raw response; yields its URL and a connection count."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    accepted: list[int] = []

    def handle(conn: socket.socket) -> None:
        with conn:
            buffered = b""
            while not stop.is_set():
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                buffered = buffered[length:]
                path = head.split(b" ")[1].decode()
                response, close = SCRIPTED[path]
                conn.sendall(response)
                if close:
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            conn.settimeout(5)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join(5)
    listener.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_each(requests: list[RequestSpec]) -> tuple[Any, int]:
    def factory(index: int) -> RequestSpec:
        return requests[index]

    return factory, len(requests)


def _completions_by_f(result: LoadResult) -> dict[str, list[tuple[str, Any, str | None]]]:
    seen: dict[str, list[tuple[str, Any, str | None]]] = {}
    for invoke_op, completion in result.history.pairs():
        assert completion is not None, f"{invoke_op} never completed"
        seen.setdefault(invoke_op.f, []).append(
            (completion.type, completion.value, completion.error)
        )
    return seen


def test_each_http_outcome_is_classified(server: str) -> None:
    factory, count = _one_each(
        [
            ("GET", "/ok", None, None),
            ("GET", "/missing", None, None),
            ("GET", "/shed", None, None),
            ("POST", "/shed", None, None),
            ("GET", "/boom", None, None),
            ("POST", "/boom", None, {"x": 1}),
            ("PUT", "/boom", None, None),
            ("POST", "/echo", {"Idempotency-Key": "k-1"}, {"qty": 2}),
        ]
    )
    result = run_load(server, factory, rate=50, seconds=1, max_requests=count, timeout=5)
    result.history.validate()
    assert result.sent == result.planned == count
    seen = _completions_by_f(result)
    kinds = {f: [kind for kind, _, _ in outcomes] for f, outcomes in seen.items()}
    assert kinds == {
        "GET /ok": ["ok"],
        "GET /missing": ["fail"],
        "GET /shed": ["fail"],
        # A 503 to a write may have come after the write took effect: nobody can know.
        "POST /shed": ["info"],
        "GET /boom": ["fail"],
        "POST /boom": ["info"],
        "PUT /boom": ["info"],
        "POST /echo": ["ok"],
    }
    assert result.outcomes == {"ok": 2, "fail": 3, "info": 3}
    ok_value = seen["GET /ok"][0][1]
    assert ok_value["status"] == 200
    assert ok_value["body"] == {"ok": True}
    assert ok_value["headers"] == {"X-Request-ID": "rid-1"}
    assert ok_value["latency_ms"] >= 0
    shed_value = seen["GET /shed"][0][1]
    assert (shed_value["status"], shed_value["headers"]) == (503, {"Retry-After": "1"})
    boom = seen["POST /boom"][0][1]
    assert boom["body"] is None  # text/plain is not parsed as JSON...
    assert boom["text"] == "internal error"  # ...but kept, for a test to look at
    assert seen["POST /echo"][0][1]["body"] == {"key": "k-1", "body": {"qty": 2}}
    invoke_values = {op.f: op.value for op in result.history if op.type == "invoke"}
    assert invoke_values["POST /echo"]["headers"] == {"Idempotency-Key": "k-1"}
    assert invoke_values["POST /echo"]["body"] == {"qty": 2}


def test_client_timeout_is_info(server: str) -> None:
    factory, count = _one_each(
        [("GET", "/slow?ms=3000", None, None), ("POST", "/slow?ms=3000", None, None)]
    )
    result = run_load(server, factory, rate=50, seconds=1, max_requests=count, timeout=0.2)
    completions = [c for _, c in result.history.pairs()]
    assert [c.type for c in completions if c] == ["info", "info"]
    for completion in completions:
        assert completion is not None
        assert completion.value["status"] is None
        assert completion.error is not None
        assert "timeout" in completion.error


def test_connection_refused_is_fail() -> None:
    result = run_load(
        f"http://127.0.0.1:{_closed_port()}",
        "POST /orders",
        rate=20,
        seconds=1,
        max_requests=3,
        timeout=2,
    )
    assert result.outcomes == {"fail": 3}
    for _, completion in result.history.pairs():
        assert completion is not None
        assert completion.error is not None
        assert completion.error.startswith("connect")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_reset_after_the_request_was_read_is_info(resetting_server: str, method: str) -> None:
    result = run_load(
        resetting_server, f"{method} /anything", rate=20, seconds=1, max_requests=2, timeout=3
    )
    assert result.outcomes == {"info": 2}
    for _, completion in result.history.pairs():
        assert completion is not None
        assert completion.value["status"] is None
        assert completion.error


def test_response_framings_are_parsed(scripted_server: tuple[str, list[int]]) -> None:
    url, _ = scripted_server
    factory, count = _one_each(
        [
            ("GET", "/chunked", None, None),
            ("GET", "/until-close", None, None),
            ("DELETE", "/no-content", None, None),
            ("POST", "/interim", None, {"x": 1}),
            ("HEAD", "/head", None, None),
            ("GET", "/garbage", None, None),
            ("POST", "/truncated", None, None),
        ]
    )
    result = run_load(url, factory, rate=50, seconds=1, max_requests=count, timeout=3)
    seen = {f: outcomes[0] for f, outcomes in _completions_by_f(result).items()}
    assert seen["GET /chunked"][0] == "ok"
    assert seen["GET /chunked"][1]["body"] == {"a": [1, 2]}
    assert seen["GET /chunked"][1]["headers"] == {"X-Request-ID": "chunky"}
    assert seen["GET /until-close"][1]["body"] == {"eof": True}
    assert seen["DELETE /no-content"][1]["status"] == 204
    assert seen["POST /interim"][1]["status"] == 201
    assert seen["HEAD /head"][1]["status"] == 200
    assert seen["GET /garbage"][0] == "info"
    assert "malformed response" in (seen["GET /garbage"][2] or "")
    assert seen["POST /truncated"][0] == "info"
    assert "mid-response" in (seen["POST /truncated"][2] or "")


def test_connections_are_kept_alive(scripted_server: tuple[str, list[int]]) -> None:
    url, accepted = scripted_server
    result = run_load(url, "GET /chunked", rate=100, seconds=1, max_requests=50, timeout=3)
    assert result.outcomes == {"ok": 50}
    assert len(accepted) < 25  # one or a few connections reused, not one per request


def test_https_is_refused() -> None:
    with pytest.raises(ConfigError, match="plain http"):
        run_load("https://127.0.0.1:1", "GET /", rate=1, seconds=1, max_requests=1, timeout=1)


def test_slow_endpoint_does_not_slow_the_arrivals(server: str) -> None:
    # 30 requests at 30/s, each taking 0.5 s: a closed-model client with few connections
    # would need many seconds; the open model sends them all within about one second.
    result = run_load(server, "GET /slow?ms=500", rate=30, seconds=1, max_requests=30, timeout=5)
    assert result.outcomes == {"ok": 30}
    invoke_times = [op.time for op in result.history if op.type == "invoke"]
    assert max(invoke_times) - min(invoke_times) < 3.0
    first_answer = min(op.time for op in result.history if op.type == "ok")
    sent_before_any_answer = sum(1 for t in invoke_times if t < first_answer)
    assert sent_before_any_answer >= 3  # about 15 on an idle machine; 1 if closed-model
    assert result.max_in_flight >= 3


def test_a_full_connection_pool_shows_up_as_schedule_lag(server: str) -> None:
    # 10 requests of 300 ms through 2 connections cannot leave on time: the wait for a
    # connection must be visible as lag, not hidden inside the client.
    result = run_load(
        server,
        "GET /slow?ms=300",
        rate=20,
        seconds=0.5,
        max_requests=10,
        timeout=5,
        max_connections=2,
    )
    assert result.outcomes == {"ok": 10}
    assert result.max_in_flight == 2
    assert result.lag_max_ms > 100


def test_count_bound_stops_early(server: str) -> None:
    started = time.monotonic()
    result = run_load(server, "GET /ok", rate=200, seconds=5, max_requests=7, timeout=2)
    assert (result.planned, result.sent) == (7, 7)
    assert len(result.history) == 14
    assert time.monotonic() - started < 4.0  # far below the 5 s duration bound


def test_duration_bound_stops_early(server: str) -> None:
    started = time.monotonic()
    result = run_load(server, "GET /ok", rate=20, seconds=0.5, max_requests=1000, timeout=2)
    assert (result.planned, result.sent) == (10, 10)
    assert time.monotonic() - started < 4.0


def test_stop_ends_a_background_run(server: str) -> None:
    with start_load(server, "GET /ok", rate=50, seconds=30, max_requests=1500, timeout=2) as run:
        time.sleep(0.3)
    result = run.wait()
    assert 0 < result.sent < result.planned
    result.history.validate()
    assert not result.history.open()


def test_stop_is_prompt_at_a_low_rate(server: str) -> None:
    run = start_load(server, "GET /ok", rate=0.2, seconds=20, max_requests=4, timeout=2)
    time.sleep(0.3)
    stopped_at = time.monotonic()
    run.stop()
    result = run.wait(timeout=10)
    assert time.monotonic() - stopped_at < 3.0  # not the 5 s until the next arrival
    assert result.sent == 1


def test_on_done_is_told_the_result_once_however_often_it_is_waited_for(server: str) -> None:
    told: list[LoadResult] = []
    run = start_load(
        server, "GET /ok", rate=50, seconds=1, max_requests=3, timeout=2, on_done=told.append
    )
    first, second = run.wait(), run.wait()
    assert told == [first]
    assert second is first
    assert first.answers().startswith("3 requests: 200 x 3 in ")


def test_runs_can_share_one_history(server: str) -> None:
    history = History()
    run_load(server, "GET /ok", rate=50, seconds=1, max_requests=3, timeout=2, history=history)
    run_load(server, "GET /missing", rate=50, seconds=1, max_requests=3, timeout=2, history=history)
    history.validate()
    assert len({op.process for op in history}) == 6
    assert [c.type for _, c in history.completed()] == ["ok"] * 3 + ["fail"] * 3


def test_static_headers_and_json_body_are_sent(server: str) -> None:
    result = run_load(
        server,
        "POST /echo",
        rate=20,
        seconds=1,
        max_requests=1,
        timeout=2,
        headers={"Idempotency-Key": "same"},
        body={"qty": 1},
    )
    [(_, completion)] = result.history.completed()
    assert completion.value["body"] == {"key": "same", "body": {"qty": 1}}


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8080",
        "http://192.168.1.10",
        "http://example.com",
        "http://0.0.0.0:8080",
        "ftp://127.0.0.1/",
        "127.0.0.1:8080",
        "http://[2001:db8::1]:80",
    ],
)
def test_non_loopback_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"loopback|http URL"):
        run_load(url, "GET /", rate=1, seconds=1, max_requests=1, timeout=1)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "http://127.9.8.7", "http://[::1]:80", "http://localhost:1/"]
)
def test_loopback_urls_are_accepted(url: str) -> None:
    require_loopback(url)


@pytest.mark.parametrize(
    "overrides",
    [
        {"rate": 0},
        {"rate": 1e6},
        {"seconds": 0},
        {"seconds": 86_400},
        {"max_requests": 0},
        {"max_requests": 10**9},
        {"timeout": 0},
        {"timeout": 3600},
        {"rate": True},
        {"max_requests": 2.5},
    ],
)
def test_out_of_range_bounds_are_refused(overrides: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"rate": 10, "seconds": 1, "max_requests": 10, "timeout": 1}
    arguments.update(overrides)
    with pytest.raises(ConfigError, match="out of range"):
        run_load("http://127.0.0.1:1", "GET /", **arguments)


def test_malformed_requests_are_refused() -> None:
    with pytest.raises(ConfigError, match="GET /products/1"):
        run_load("http://127.0.0.1:1", "products", rate=1, seconds=1, max_requests=1, timeout=1)
    with pytest.raises(ConfigError, match="body"):
        run_load(
            "http://127.0.0.1:1",
            lambda i: ("GET", "/", None, None),
            rate=1,
            seconds=1,
            max_requests=1,
            timeout=1,
            body=b"x",
        )


def test_header_injection_is_refused(server: str) -> None:
    with pytest.raises(ConfigError, match="line break"):
        run_load(
            server,
            "GET /ok",
            rate=10,
            seconds=1,
            max_requests=1,
            timeout=1,
            headers={"X-Evil": "1\r\nX-Injected: 2"},
        )


def test_a_failing_request_factory_is_raised_not_swallowed(server: str) -> None:
    def factory(index: int) -> RequestSpec:
        if index == 2:
            raise RuntimeError("factory bug")
        return "GET", "/ok", None, None

    with pytest.raises(RuntimeError, match="factory bug"):
        run_load(server, factory, rate=50, seconds=1, max_requests=4, timeout=2)


def test_in_flight_gate_hands_slots_on_in_order_and_skips_cancelled_waiters() -> None:
    from harness.load.gate import InFlightGate

    async def scenario() -> list[str]:
        gate = InFlightGate(1)
        order: list[str] = []

        async def holder(name: str, hold: float) -> None:
            async with gate:
                order.append(name)
                await asyncio.sleep(hold)

        first = asyncio.create_task(holder("first", 0.05))
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(holder("cancelled", 0))
        last = asyncio.create_task(holder("last", 0))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(first, last, cancelled, return_exceptions=True)
        assert (gate.used, gate.peak) == (0, 1)
        return order

    assert asyncio.run(scenario()) == ["first", "last"]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome("GET", 200, None, True), "ok"),
        (Outcome("POST", 201, None, True), "ok"),
        (Outcome("POST", 409, None, True), "fail"),
        (Outcome("POST", 429, None, True), "fail"),
        (Outcome("POST", 503, None, True), "info"),  # may have come after the write
        (Outcome("GET", 504, None, True), "fail"),
        (Outcome("POST", 504, None, True), "info"),
        (Outcome("DELETE", 500, None, True), "info"),
        (Outcome("GET", None, "timeout", True), "info"),
        (Outcome("POST", None, "connect: refused", False), "fail"),
    ],
)
def test_default_classify(outcome: Outcome, expected: str) -> None:
    assert default_classify(outcome) == expected


def test_answers_groups_what_the_clients_saw_by_status_with_latencies() -> None:
    history = History()
    replies = [(504, 2004.2), (502, 1011.0), (504, 2002.0), (None, 8000.4), (504, 3010.0)]
    for process, (status, ms) in enumerate(replies):
        op = history.invoke(process, "GET /get")
        error = "timeout after 8 s" if status is None else None
        history.complete(op, "fail", {"status": status, "latency_ms": ms}, error)
    history.invoke(9, "GET /get")  # still open when the run ended
    result = LoadResult(
        history=history,
        planned=6,
        sent=6,
        elapsed_s=1.0,
        achieved_rate=6.0,
        lags_ms=(),
        outcomes={"fail": 5},
    )
    assert result.answers() == (
        "6 requests: 504 x 3 in 2002-3010 ms (median 2004), 502 x 1 in 1011-1011 ms "
        "(median 1011), no answer (timeout after 8 s) x 1 in 8000-8000 ms (median 8000), "
        "1 never completed"
    )

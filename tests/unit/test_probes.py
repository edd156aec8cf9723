"""Unit tests for harness.probes with texts in the exact formats Go services produce."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.errors import ConfigError, ProbeError, SignalMissingError
from harness.probes import (
    DUMP_WRITER,
    IDLE_INCOMING,
    OUTGOING_POOL,
    REQUEST_READER,
    Frame,
    GoroutineGroup,
    diff_goroutines,
    fetch_goroutine_dump,
    fetch_goroutines,
    fetch_metrics,
    format_groups,
    handling_request,
    idle_connection,
    parse_goroutines,
    parse_metrics,
    sample,
    scan_logs,
    total_goroutines,
)

DUMPS = Path(__file__).parent / "dumps"

METRICS = """\
# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.3281e-05
go_gc_duration_seconds{quantile="0.25"} 3.1702e-05
go_gc_duration_seconds{quantile="0.5"} 4.4511e-05
go_gc_duration_seconds{quantile="0.75"} 6.0118e-05
go_gc_duration_seconds{quantile="1"} 0.000231557
go_gc_duration_seconds_sum 0.001532117
go_gc_duration_seconds_count 27
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 14
# HELP go_info Information about the Go environment.
# TYPE go_info gauge
go_info{version="go1.22.5"} 1
# HELP go_memstats_alloc_bytes Number of bytes allocated in heap and currently in use.
# TYPE go_memstats_alloc_bytes gauge
go_memstats_alloc_bytes 3.218544e+06
# HELP http_request_duration_seconds Time spent serving HTTP requests.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="GET",route="/products/:id",le="0.005"} 1520
http_request_duration_seconds_bucket{method="GET",route="/products/:id",le="0.01"} 1601
http_request_duration_seconds_bucket{method="GET",route="/products/:id",le="0.1"} 1700
http_request_duration_seconds_bucket{method="GET",route="/products/:id",le="1"} 1702
http_request_duration_seconds_bucket{method="GET",route="/products/:id",le="+Inf"} 1702
http_request_duration_seconds_sum{method="GET",route="/products/:id"} 5.873
http_request_duration_seconds_count{method="GET",route="/products/:id"} 1702
http_request_duration_seconds_bucket{method="POST",route="/orders",le="0.005"} 10
http_request_duration_seconds_bucket{method="POST",route="/orders",le="0.01"} 12
http_request_duration_seconds_bucket{method="POST",route="/orders",le="0.1"} 40
http_request_duration_seconds_bucket{method="POST",route="/orders",le="1"} 41
http_request_duration_seconds_bucket{method="POST",route="/orders",le="+Inf"} 41
http_request_duration_seconds_sum{method="POST",route="/orders"} 1.25
http_request_duration_seconds_count{method="POST",route="/orders"} 41
# HELP http_requests_total Requests served, by route and status code.
# TYPE http_requests_total counter
http_requests_total{code="200",method="GET",route="/products/:id"} 1690
http_requests_total{code="404",method="GET",route="/products/:id"} 12
http_requests_total{code="201",method="POST",route="/orders"} 38
http_requests_total{code="503",method="POST",route="/orders"} 3
# HELP breaker_state Circuit breaker state (0 closed, 1 half-open, 2 open).
# TYPE breaker_state gauge
breaker_state{downstream="inventory"} 0
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.76412847112e+09
"""

# Written by hand in the exact shape of Go 1.22's goroutine?debug=2 output.
DUMP_BEFORE = """\
goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7f3b2c1e5e28, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:345 +0x85
internal/poll.(*pollDesc).wait(0xc000176000?, 0x4?, 0x0)
\t/usr/local/go/src/internal/poll/fd_poll_runtime.go:84 +0x27
internal/poll.(*pollDesc).waitRead(...)
\t/usr/local/go/src/internal/poll/fd_poll_runtime.go:89
internal/poll.(*FD).Accept(0xc000176000)
\t/usr/local/go/src/internal/poll/fd_unix.go:611 +0x2ac
net.(*netFD).accept(0xc000176000)
\t/usr/local/go/src/net/fd_unix.go:172 +0x29
net.(*TCPListener).accept(0xc0000a2200)
\t/usr/local/go/src/net/tcpsock_posix.go:159 +0x1e
net.(*TCPListener).Accept(0xc0000a2200)
\t/usr/local/go/src/net/tcpsock.go:327 +0x30
net/http.(*Server).Serve(0xc0000f6000, {0x9d8a60, 0xc0000a2200})
\t/usr/local/go/src/net/http/server.go:3260 +0x33e
net/http.(*Server).ListenAndServe(0xc0000f6000)
\t/usr/local/go/src/net/http/server.go:3189 +0x71
main.main()
\t/src/inventory/main.go:58 +0x2e5

goroutine 7 [running]:
runtime/pprof.writeGoroutineStacks({0x9d52a0, 0xc0001c2000})
\t/usr/local/go/src/runtime/pprof/pprof.go:761 +0x6a
runtime/pprof.writeGoroutine({0x9d52a0?, 0xc0001c2000?}, 0x2?)
\t/usr/local/go/src/runtime/pprof/pprof.go:750 +0x25
net/http/pprof.handler.ServeHTTP({0xc0001a4011, 0x9}, {0x9dac10, 0xc0001c2000}, 0xc0001b6000)
\t/usr/local/go/src/net/http/pprof/pprof.go:272 +0x4b4
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4

goroutine 21 [select]:
database/sql.(*DB).connectionOpener(0xc0001e8000, {0x9dbe48, 0xc0001b4050})
\t/usr/local/go/src/database/sql/sql.go:1246 +0x87
created by database/sql.OpenDB in goroutine 1
\t/usr/local/go/src/database/sql/sql.go:824 +0x14c

goroutine 40 [chan send, 2 minutes]:
runtime.gopark(0xc00005e6f0?, 0x4a1a9e?, 0x0?, 0x0?, 0x0?)
\t/usr/local/go/src/runtime/proc.go:402 +0xce
runtime.chansend(0xc0000b4060, 0xc00005e7b8, 0x1, 0x4a1fdd)
\t/usr/local/go/src/runtime/chan.go:259 +0x3a5
runtime.chansend1(0x0?, 0x0?)
\t/usr/local/go/src/runtime/chan.go:145 +0x17
chaosharness/compose/gateway.(*Handler).lookup.func1()
\t/src/gateway/handler.go:71 +0x5f
created by chaosharness/compose/gateway.(*Handler).lookup in goroutine 34
\t/src/gateway/handler.go:68 +0x11d
"""

LEAK = """\
goroutine {id} [chan send{wait}]:
runtime.gopark(0xc00005e6f0?, 0x4a1a9e?, 0x0?, 0x0?, 0x0?)
\t/usr/local/go/src/runtime/proc.go:402 +0xce
runtime.chansend(0xc0000b{id:04d}, 0xc00005e7b8, 0x1, 0x4a1fdd)
\t/usr/local/go/src/runtime/chan.go:259 +0x3a5
runtime.chansend1(0x0?, 0x0?)
\t/usr/local/go/src/runtime/chan.go:145 +0x17
chaosharness/compose/gateway.(*Handler).lookup.func1()
\t/src/gateway/handler.go:71 +0x5f
created by chaosharness/compose/gateway.(*Handler).lookup in goroutine {parent}
\t/src/gateway/handler.go:68 +0x11d
"""


def _dump_with_leaks(count: int) -> str:
    leaks = [
        LEAK.format(id=100 + n, wait=", 1 minutes" if n % 2 else "", parent=200 + n)
        for n in range(count)
    ]
    return DUMP_BEFORE + "\n" + "\n".join(leaks)


def test_parse_metrics_keys_samples_by_name_and_labels() -> None:
    metrics = parse_metrics(METRICS)
    assert metrics["go_goroutines"] == {(): 14.0}
    assert (
        metrics["http_requests_total"][(("code", "503"), ("method", "POST"), ("route", "/orders"))]
        == 3.0
    )
    buckets = metrics["http_request_duration_seconds_bucket"]
    assert buckets[(("le", "+Inf"), ("method", "GET"), ("route", "/products/:id"))] == 1702.0
    assert metrics["go_gc_duration_seconds_count"] == {(): 27.0}
    assert metrics["process_start_time_seconds"][()] == pytest.approx(1.76412847112e9)


def test_sample_sums_matching_series_and_says_none_when_absent() -> None:
    metrics = parse_metrics(METRICS)
    assert sample(metrics, "go_goroutines") == 14.0
    assert sample(metrics, "http_requests_total") == 1690 + 12 + 38 + 3
    assert sample(metrics, "http_requests_total", {"route": "/orders"}) == 41.0
    assert sample(metrics, "http_requests_total", {"code": "503"}) == 3.0
    assert sample(metrics, "http_requests_total", {"code": "500"}) is None
    assert sample(metrics, "no_such_metric") is None
    assert sample(metrics, "breaker_state", {"downstream": "inventory"}) == 0.0
    count = sample(metrics, "http_request_duration_seconds_count", {"method": "POST"})
    assert count == 41.0
    le_100ms = sample(
        metrics, "http_request_duration_seconds_bucket", {"route": "/orders", "le": "0.1"}
    )
    assert le_100ms == 40.0


def test_parse_metrics_rejects_garbage() -> None:
    with pytest.raises(ProbeError, match="Prometheus"):
        parse_metrics("<html>404 page not found</html>\n")


def test_parse_goroutines_groups_and_normalises() -> None:
    groups = parse_goroutines(_dump_with_leaks(5))
    assert total_goroutines(groups) == 4 + 5
    leak = groups[0]
    assert leak.count == 6  # five leaked plus the one already in DUMP_BEFORE
    assert leak.state == "chan send"
    assert leak.longest_wait_minutes == 2
    assert leak.frames[0] == Frame("runtime.gopark", "/usr/local/go/src/runtime/proc.go:402")
    assert leak.frames[-1] == Frame(
        "chaosharness/compose/gateway.(*Handler).lookup.func1", "/src/gateway/handler.go:71"
    )
    assert leak.created_by == Frame(
        "chaosharness/compose/gateway.(*Handler).lookup", "/src/gateway/handler.go:68"
    )
    by_state = {group.state: group for group in groups}
    assert set(by_state) == {"chan send", "IO wait", "running", "select"}
    main_stack = by_state["IO wait"]
    assert main_stack.created_by is None
    assert main_stack.frames[2] == Frame(
        "internal/poll.(*pollDesc).waitRead",
        "/usr/local/go/src/internal/poll/fd_poll_runtime.go:89",
    )
    assert main_stack.frames[-1] == Frame("main.main", "/src/inventory/main.go:58")
    serve = by_state["running"].frames[2]
    assert serve.function == "net/http/pprof.handler.ServeHTTP"


def test_parse_goroutines_accepts_older_and_system_tracebacks() -> None:
    dump = """\
goroutine 5 gp=0xc000007180 m=nil [select, 3 minutes, locked to thread]:
main.loop(0x0)
\t/src/app/main.go:12 +0x1d fp=0xc00004df80 sp=0xc00004df60 pc=0x47a33d
created by main.main
\t/src/app/main.go:9 +0x25
"""
    [group] = parse_goroutines(dump)
    assert group.state == "select"
    assert group.longest_wait_minutes == 3
    assert group.frames == (Frame("main.loop", "/src/app/main.go:12"),)
    assert group.created_by == Frame("main.main", "/src/app/main.go:9")


def test_parse_goroutines_rejects_a_non_dump() -> None:
    assert parse_goroutines("") == []
    with pytest.raises(ProbeError, match="debug=2"):
        parse_goroutines("goroutine profile: total 4\n4 @ 0x43e2ce 0x44e9a5\n")


def test_diff_goroutines_reports_growth_only() -> None:
    before = parse_goroutines(DUMP_BEFORE)
    after = parse_goroutines(_dump_with_leaks(3))
    [grown] = diff_goroutines(before, after)
    assert grown.count == 3
    assert grown.state == "chan send"
    assert diff_goroutines(after, before) == []
    assert diff_goroutines(before, before) == []


def test_format_groups_is_readable() -> None:
    grown = diff_goroutines(parse_goroutines(DUMP_BEFORE), parse_goroutines(_dump_with_leaks(3)))
    text = format_groups(grown)
    assert text.splitlines()[0] == "3 goroutines [chan send, 2+ minutes]"
    assert "(3 runtime frames above)" in text
    assert "chaosharness/compose/gateway.(*Handler).lookup.func1\n" in text
    assert "/src/gateway/handler.go:71" in text
    assert "created by chaosharness/compose/gateway.(*Handler).lookup" in text
    assert "0xc0" not in text  # no argument values or offsets
    everything = format_groups(parse_goroutines(DUMP_BEFORE), max_groups=2, max_frames=3)
    assert "... and 2 more groups (2 goroutines)" in everything
    assert "more frames" in everything


def real_dump(name: str) -> str:
    """A goroutine dump captured from a real Gin service (see the file's first lines)."""
    text = (DUMPS / name).read_text()
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def group_of(groups: list[GoroutineGroup], goroutine: str, dump: str) -> GoroutineGroup:
    """The group holding the goroutine with this ID in ``dump``."""
    block = next(b for b in dump.split("\n\n") if b.startswith(f"goroutine {goroutine} "))
    [single] = parse_goroutines(block)
    return next(g for g in groups if g.key == single.key)


def test_idle_connections_in_a_real_gin_dump_are_told_from_requests_in_progress() -> None:
    dump = real_dump("gin_go126.txt")
    groups = parse_goroutines(dump)
    assert total_goroutines(groups) == 13
    expected = {
        "30": DUMP_WRITER,  # the pprof request writing this very dump
        "1": None,  # main, in Accept: the service's own
        "27": None,  # a Gin handler blocked in <-never inside (*conn).serve: a request
        "3": IDLE_INCOMING,  # (*conn).serve → bufio Peek → connReader.Read: idle
        "14": REQUEST_READER,  # connReader.backgroundRead of a request in progress
        "31": REQUEST_READER,  # startBackgroundRead.gowrap2, runnable: about to be one
        "10": OUTGOING_POOL,  # persistConn.readLoop blocked in Peek: pooled, idle
        "11": OUTGOING_POOL,  # persistConn.writeLoop in select: waiting for a request
    }
    roles = {
        goroutine: idle_connection(group_of(groups, goroutine, dump)) for goroutine in expected
    }
    assert roles == expected
    stuck = group_of(groups, "27", dump)
    assert stuck.count == 2
    assert handling_request(stuck)
    assert not handling_request(group_of(groups, "3", dump))
    assert not handling_request(group_of(groups, "1", dump))


def test_a_response_body_never_closed_keeps_its_read_loop_busy_not_idle() -> None:
    dump = real_dump("gin_go126_unread_body.txt")
    groups = parse_goroutines(dump)
    read_loop = group_of(groups, "11", dump)
    assert read_loop.frames == (
        Frame("net/http.(*persistConn).readLoop", "/usr/local/go/src/net/http/transport.go:2450"),
    )
    assert idle_connection(read_loop) is None  # waits for the caller to read the body
    assert idle_connection(group_of(groups, "12", dump)) == OUTGOING_POOL  # its writeLoop


def test_idle_connections_are_recognised_with_the_runtime_frames_older_go_prints() -> None:
    dump = """\
goroutine 50 [IO wait, 3 minutes]:
internal/poll.runtime_pollWait(0x7f3b2c1e5d30, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:345 +0x85
internal/poll.(*pollDesc).wait(0xc0001f2080?, 0xc0001fe000?, 0x0)
\t/usr/local/go/src/internal/poll/fd_poll_runtime.go:84 +0x27
internal/poll.(*pollDesc).waitRead(...)
\t/usr/local/go/src/internal/poll/fd_poll_runtime.go:89
internal/poll.(*FD).Read(0xc0001f2080, {0xc0001fe000, 0x1000, 0x1000})
\t/usr/local/go/src/internal/poll/fd_unix.go:164 +0x27a
net.(*netFD).Read(0xc0001f2080, {0xc0001fe000?, 0x0?, 0xc0001b4e48?})
\t/usr/local/go/src/net/fd_posix.go:55 +0x25
net.(*conn).Read(0xc0001a6040, {0xc0001fe000?, 0x0?, 0x0?})
\t/usr/local/go/src/net/net.go:185 +0x45
net/http.(*connReader).Read(0xc0001d8f30, {0xc0001fe000, 0x1000, 0x1000})
\t/usr/local/go/src/net/http/server.go:789 +0x14b
bufio.(*Reader).fill(0xc0001b6180)
\t/usr/local/go/src/bufio/bufio.go:110 +0x103
bufio.(*Reader).Peek(0xc0001b6180, 0x4)
\t/usr/local/go/src/bufio/bufio.go:148 +0x53
net/http.(*conn).serve(0xc0001c4000, {0x9dbe48, 0xc0001d8e40})
\t/usr/local/go/src/net/http/server.go:2079 +0x749
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4

goroutine 61 [select]:
runtime.gopark(0xc00020ff80?, 0x2?, 0x0?, 0x0?, 0xc00020fe4c?)
\t/usr/local/go/src/runtime/proc.go:402 +0xce
runtime.selectgo(0xc00020ff80, 0xc00020fe48, 0xc0000b0c60?, 0x0, 0x0?, 0x1)
\t/usr/local/go/src/runtime/select.go:327 +0x725
net/http.(*persistConn).writeLoop(0xc0001d6000)
\t/usr/local/go/src/net/http/transport.go:2444 +0xf0
created by net/http.(*Transport).dialConn in goroutine 58
\t/usr/local/go/src/net/http/transport.go:1800 +0x1585

goroutine 70 [chan receive, 2 minutes]:
runtime.gopark(0xc000210e10?, 0x4a1a9e?, 0x0?, 0x0?, 0x0?)
\t/usr/local/go/src/runtime/proc.go:402 +0xce
runtime.chanrecv(0xc0000b4060, 0x0, 0x1)
\t/usr/local/go/src/runtime/chan.go:583 +0x3cd
runtime.chanrecv1(0x0?, 0x0?)
\t/usr/local/go/src/runtime/chan.go:442 +0x12
main.stuck(0xc0001e2000)
\t/src/app/main.go:15 +0x25
github.com/gin-gonic/gin.(*Context).Next(...)
\t/go/pkg/mod/github.com/gin-gonic/gin@v1.10.0/context.go:185
github.com/gin-gonic/gin.(*Engine).handleHTTPRequest(0xc0000d6d00, 0xc0001e2000)
\t/go/pkg/mod/github.com/gin-gonic/gin@v1.10.0/gin.go:633 +0x892
github.com/gin-gonic/gin.(*Engine).ServeHTTP(0xc0000d6d00, {0x9a7f10, 0xc0001b0000}, 0xc0001ac000)
\t/go/pkg/mod/github.com/gin-gonic/gin@v1.10.0/gin.go:589 +0x1b2
net/http.serverHandler.ServeHTTP({0xc0001a0060?}, {0x9a7f10?, 0xc0001b0000?}, 0x6?)
\t/usr/local/go/src/net/http/server.go:3142 +0x8e
net/http.(*conn).serve(0xc0001c4120, {0x9dbe48, 0xc0001d8e40})
\t/usr/local/go/src/net/http/server.go:2044 +0x5e8
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4
"""
    by_state = {group.state: group for group in parse_goroutines(dump)}
    idle, loop, handler = (by_state[s] for s in ("IO wait", "select", "chan receive"))
    assert idle_connection(idle) == IDLE_INCOMING
    assert idle_connection(loop) == OUTGOING_POOL
    assert idle_connection(handler) is None
    assert handling_request(handler)


def test_a_server_connection_busy_writing_its_reply_is_not_idle() -> None:
    dump = """\
goroutine 80 [IO wait]:
internal/poll.runtime_pollWait(0x7f3b2c1e5d30, 0x77)
\t/usr/local/go/src/runtime/netpoll.go:351 +0x85
internal/poll.(*FD).Write(0xc0001f2080, {0xc0001fe000, 0x1000, 0x1000})
\t/usr/local/go/src/internal/poll/fd_unix.go:399 +0x3ba
net.(*conn).Write(0xc0001a6040, {0xc0001fe000?, 0x0?, 0x0?})
\t/usr/local/go/src/net/net.go:208 +0x45
net/http.checkConnErrorWriter.Write({0xc0001c4000?}, {0xc0001fe000?, 0x0?, 0x0?})
\t/usr/local/go/src/net/http/server.go:3911 +0x3d
bufio.(*Writer).Flush(0xc0001b6180)
\t/usr/local/go/src/bufio/bufio.go:641 +0x55
net/http.(*response).finishRequest(0xc0001fa000)
\t/usr/local/go/src/net/http/server.go:1714 +0x58
net/http.(*conn).serve(0xc0001c4000, {0x9dbe48, 0xc0001d8e40})
\t/usr/local/go/src/net/http/server.go:2108 +0x6b5
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3464 +0x485
"""
    [writing] = parse_goroutines(dump)
    assert idle_connection(writing) is None
    assert not handling_request(writing)


LOG = """\
[GIN-debug] Listening and serving HTTP on :8080
[GIN] 2026/11/26 - 14:02:11 | 200 |     1.2ms |  172.18.0.1 | GET "/products/1"
level=ERROR msg="recovered panic: runtime error: index out of range" request_id=abc
==================
WARNING: DATA RACE
Read at 0x00c0001a0010 by goroutine 41:
  chaosharness/compose/inventory.(*Store).Reserve()
      /src/inventory/store.go:55 +0x84

Previous write at 0x00c0001a0010 by goroutine 40:
  chaosharness/compose/inventory.(*Store).Reserve()
      /src/inventory/store.go:55 +0x9c
==================
[GIN] 2026/11/26 - 14:02:12 | 200 |     1.1ms |  172.18.0.1 | GET "/products/1"
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6f1b2a]

goroutine 52 [running]:
chaosharness/compose/gateway.(*Handler).charge.func1()
\t/src/gateway/handler.go:120 +0x2a
created by chaosharness/compose/gateway.(*Handler).charge in goroutine 50
\t/src/gateway/handler.go:117 +0x9c
gateway-1  | fatal error: concurrent map writes
"""


def test_scan_logs_finds_runtime_reports_with_context() -> None:
    findings = scan_logs(LOG)
    assert [(f.kind, f.line) for f in findings] == [
        ("data race", 5),
        ("panic", 15),
        ("fatal error", 23),
    ]
    race = findings[0].excerpt
    assert race.startswith("==================\nWARNING: DATA RACE")
    assert race.endswith("==================")
    assert "store.go:55" in race
    panic = findings[1].excerpt
    assert "nil pointer dereference" in panic
    assert "handler.go:120" in panic
    assert "fatal error" not in panic  # the next report starts its own finding
    assert "created by chaosharness/compose/gateway.(*Handler).charge" in panic
    assert findings[2].excerpt == "gateway-1  | fatal error: concurrent map writes"
    short = scan_logs(LOG, context=2)[1].excerpt
    assert short.splitlines()[-1].startswith("[signal SIGSEGV")


def test_scan_logs_ignores_recovered_panics_and_clean_logs() -> None:
    assert scan_logs('level=ERROR msg="recovered panic: boom"\n[Recovery] panic recovered:\n') == []
    assert scan_logs("") == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/metrics": (200, METRICS),
            "/debug/pprof/goroutine?debug=2": (200, DUMP_BEFORE),
            "/html": (200, "<html><body>Welcome</body></html>"),
            "/index/goroutine?debug=2": (200, "goroutine profile: total 4\n4 @ 0x43e2ce\n"),
        }
        status, text = routes.get(self.path, (404, "404 page not found"))
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_helpers_read_a_live_endpoint(service: str) -> None:
    assert sample(fetch_metrics(service), "go_goroutines") == 14.0
    assert total_goroutines(fetch_goroutines(service + "/")) == 4
    assert fetch_goroutine_dump(service, "/debug/pprof/").startswith("goroutine 1 [IO wait]:")


def test_fetch_helpers_say_what_went_wrong(service: str) -> None:
    with pytest.raises(SignalMissingError, match="answered 404") as missing:
        fetch_metrics(service, "/nope")
    assert missing.value.url == service + "/nope"
    assert "promhttp.Handler()" in str(missing.value)
    with pytest.raises(SignalMissingError, match="answered 404") as missing:
        fetch_goroutines(service, "/pprof")
    assert 'import _ "net/http/pprof"' in str(missing.value)
    assert 'router.GET("/debug/pprof/*any", gin.WrapH(http.DefaultServeMux))' in str(missing.value)
    with pytest.raises(SignalMissingError, match="not a Prometheus text exposition"):
        fetch_metrics(service, "/html")
    with pytest.raises(SignalMissingError, match="no 'goroutine N \\[state\\]:' header"):
        fetch_goroutines(service, "/index")
    with pytest.raises(ProbeError, match="could not read"):
        fetch_metrics(f"http://127.0.0.1:{_closed_port()}", timeout=2)
    with pytest.raises(ConfigError, match="loopback"):
        fetch_metrics("http://10.1.2.3:9090")

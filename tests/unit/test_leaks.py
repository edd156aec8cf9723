"""Unit tests of goroutine_baseline and no_leaked_goroutines against a live HTTP endpoint.

The dumps are assembled from goroutines of a real Gin service's dump (``dumps/``): idle
keep-alive connections, pooled outgoing connections, handlers stuck in a request. The
environment is a stand-in that only says where the service is and what its x-chaos block
declares, which is all the checks ask of it.
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from harness.checks import Outcome, goroutine_baseline, no_leaked_goroutines

DUMPS = Path(__file__).parent / "dumps"
_ids = itertools.count(1000)


def goroutines(name: str = "gin_go126.txt") -> dict[str, str]:
    """The goroutines of a captured dump by ID, each one block of text."""
    text = "\n".join(
        line for line in (DUMPS / name).read_text().splitlines() if not line.startswith("#")
    )
    blocks = [block.strip("\n") for block in text.split("\n\n") if block.strip()]
    return {re.match(r"goroutine (\d+) ", block).group(1): block for block in blocks}  # type: ignore[union-attr]


GIN = goroutines()
UNREAD = goroutines("gin_go126_unread_body.txt")
WRITER, MAIN, STUCK, IDLE, READER = GIN["30"], GIN["1"], GIN["27"], GIN["3"], GIN["14"]
READ_LOOP, WRITE_LOOP = GIN["10"], GIN["11"]
BODY_NOT_CLOSED = UNREAD["11"]


def dump(*parts: tuple[str, int]) -> str:
    """A dump holding ``copies`` of each goroutine block, each under a fresh ID."""
    blocks = [
        re.sub(r"^goroutine \d+ ", f"goroutine {next(_ids)} ", block)
        for block, copies in parts
        for _ in range(copies)
    ]
    return "\n\n".join(blocks) + "\n"


# 8 goroutines: the dump's own request, main, and six idle keep-alive connections.
BASELINE = dump((WRITER, 1), (MAIN, 1), (IDLE, 6))


@dataclass
class Service:
    """What the checks read of a service's x-chaos block."""

    pprof: str | None = None
    metrics: str | None = None
    pprof_port: int | None = None
    metrics_port: int | None = None


@dataclass
class Endpoint:
    """A live HTTP server that answers a scripted sequence of goroutine dumps."""

    url: str
    path: str = "/debug/pprof/goroutine?debug=2"
    dumps: list[str] = field(default_factory=list)
    served: int = 0

    def answer(self, path: str) -> tuple[int, str]:
        if path != self.path or not self.dumps:
            return 404, "404 page not found"
        text = self.dumps[min(self.served, len(self.dumps) - 1)]
        self.served += 1
        return 200, text


class Env:
    """Stands in for harness.environment.Environment: addresses and a declared block."""

    def __init__(self, url: str, service: Service, ports: dict[int, str] | None = None) -> None:
        self._url = url
        self._ports = ports or {}  # container port -> base URL, for signals on other ports
        self._service = service
        self.topology = self

    def url(self, name: str, port: int | None = None) -> str:
        return self._url if port is None else self._ports[port]

    def service(self, name: str) -> Service:
        return self._service


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    holder: dict[str, Endpoint] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, text = holder["endpoint"].answer(self.path)
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["endpoint"] = Endpoint(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield holder["endpoint"]
    server.shutdown()
    server.server_close()


def env_for(endpoint: Endpoint, service: Service | None = None) -> Any:
    return cast(Any, Env(endpoint.url, service or Service()))


# -- a service without pprof --------------------------------------------------------------


def test_a_service_without_pprof_gets_unknown_with_what_was_tried_and_how_to_add_it(
    endpoint: Endpoint,
) -> None:
    env = env_for(endpoint)  # declares no pprof path; answers 404 to everything

    baseline = goroutine_baseline(env, "api")  # must not raise

    assert not baseline.taken
    assert baseline.count is None
    verdict = no_leaked_goroutines(env, baseline)
    assert verdict.outcome is Outcome.UNKNOWN
    message = verdict.message
    assert message.startswith("no goroutine baseline of api could be taken before the fault")
    assert f"api does not serve a goroutine dump: GET {endpoint.url}/debug/pprof/goroutine" in (
        message
    )
    assert "/debug/pprof/goroutine?debug=2 answered 404 Not Found" in message
    assert "/debug/pprof is the conventional default: x-chaos services.api.pprof names no" in (
        message
    )
    assert 'import _ "net/http/pprof"' in message
    assert 'router.GET("/debug/pprof/*any", gin.WrapH(http.DefaultServeMux))' in message
    assert "check the path" not in message


def test_a_declared_pprof_path_that_is_wrong_is_named_as_declared(endpoint: Endpoint) -> None:
    env = env_for(endpoint, Service(pprof="/admin/pprof"))
    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"))
    assert verdict.outcome is Outcome.UNKNOWN
    assert f"GET {endpoint.url}/admin/pprof/goroutine?debug=2 answered 404" in verdict.message
    assert "/admin/pprof is the path x-chaos services.api.pprof names" in verdict.message
    assert "correct x-chaos services.api.pprof" in verdict.message


def closed_url() -> str:
    """A loopback address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_pprof_declared_on_an_admin_port_is_read_there(endpoint: Endpoint) -> None:
    endpoint.dumps = [BASELINE]
    env = cast(Any, Env(closed_url(), Service(pprof_port=2019), {2019: endpoint.url}))
    baseline = goroutine_baseline(env, "api")  # the service's own port is not asked
    assert baseline.taken, baseline.unavailable
    assert baseline.count == 8


def test_nothing_listening_on_the_declared_pprof_port_says_to_listen_beyond_localhost(
    endpoint: Endpoint,
) -> None:
    env = cast(Any, Env(endpoint.url, Service(pprof_port=2019), {2019: closed_url()}))
    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"))
    assert verdict.outcome is Outcome.UNKNOWN
    assert (
        "x-chaos services.api.pprof names port 2019: api must listen there on every "
        "interface of its container (e.g. :2019, not localhost:2019)"
    ) in verdict.message


def test_a_404_on_the_declared_pprof_port_names_the_port_and_the_path_tried(
    endpoint: Endpoint,
) -> None:
    env = cast(Any, Env(closed_url(), Service(pprof_port=2019), {2019: endpoint.url}))
    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"))
    assert verdict.outcome is Outcome.UNKNOWN
    assert f"GET {endpoint.url}/debug/pprof/goroutine?debug=2 answered 404" in verdict.message
    assert (
        "/debug/pprof on port 2019 is the conventional path on the port "
        "x-chaos services.api.pprof names"
    ) in verdict.message
    assert "add `path:` to x-chaos services.api.pprof" in verdict.message


def test_a_service_that_stops_answering_after_the_baseline_is_unknown(
    endpoint: Endpoint,
) -> None:
    endpoint.dumps = [BASELINE]
    env = env_for(endpoint)
    baseline = goroutine_baseline(env, "api")
    assert baseline.taken
    assert baseline.count == 8
    verdict = no_leaked_goroutines(cast(Any, Env(closed_url(), Service())), baseline)
    assert verdict.outcome is Outcome.UNKNOWN
    assert verdict.message.startswith("could not read the goroutines of api: could not read")
    assert "net/http/pprof" not in verdict.message  # down, not missing: no how-to


# -- idle connections are not leaks; requests stuck in a handler are -------------------------


def test_idle_keep_alive_connections_pass_with_numbers_that_add_up(endpoint: Endpoint) -> None:
    endpoint.dumps = [BASELINE, dump((WRITER, 1), (MAIN, 1), (IDLE, 38))]
    env = env_for(endpoint)

    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"), settle_s=0.5)

    assert verdict.outcome is Outcome.PASS, verdict.message
    assert verdict.message == (
        "api: 8 → 40 goroutines: all 32 more only wait on a connection "
        "(32 idle keep-alive connections), which end when their connection closes"
    )
    assert "32 goroutines [IO wait]" in verdict.evidence["grown, but only waiting on a connection"]


def test_pooled_outgoing_connections_are_not_leaks(endpoint: Endpoint) -> None:
    endpoint.dumps = [
        BASELINE,
        dump((WRITER, 1), (MAIN, 1), (IDLE, 5), (READ_LOOP, 3), (WRITE_LOOP, 3)),
    ]
    env = env_for(endpoint)

    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"), settle_s=0.5)

    assert verdict.outcome is Outcome.PASS, verdict.message
    assert verdict.message == (
        "api: 8 → 13 goroutines: all 5 more only wait on a connection "
        "(1 fewer idle keep-alive connection, 6 read/write loops of pooled outgoing "
        "connections), which end when their connection closes"
    )


def test_back_to_baseline_says_so(endpoint: Endpoint) -> None:
    endpoint.dumps = [BASELINE, dump((WRITER, 1), (MAIN, 1), (IDLE, 4))]
    env = env_for(endpoint)
    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"), settle_s=0.5)
    assert verdict.outcome is Outcome.PASS
    assert verdict.message == "api: 8 → 6 goroutines, back to baseline"


def test_handlers_stuck_inside_a_request_are_leaks_even_under_conn_serve(
    endpoint: Endpoint,
) -> None:
    # What the user saw pass: 11 Gin handlers blocked forever in a channel receive, each
    # with its connection's background reader, among 21 more idle keep-alive connections.
    stuck = dump((WRITER, 1), (MAIN, 1), (IDLE, 27), (STUCK, 11), (READER, 11))
    endpoint.dumps = [BASELINE, stuck]
    env = env_for(endpoint)

    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"), settle_s=0.3)

    assert verdict.outcome is Outcome.FAIL
    first = verdict.message.splitlines()[0]
    assert first.startswith("api leaked 11 goroutine(s): 8 → 51 goroutines, 11 more that are ")
    assert "the grown stacks hold 11 request(s) still inside a handler" in first
    assert (
        "; the other 32 more only wait on a connection (11 background readers of requests "
        "in progress, 21 idle keep-alive connections), which end when their connection closes."
    ) in first
    leaked = verdict.evidence["leaked goroutines"]
    assert leaked.splitlines()[0] == "11 goroutines [chan receive]"
    assert "main.stuck\n        /tmp/dumpgen/main.go:15" in leaked
    assert "github.com/gin-gonic/gin.(*Engine).ServeHTTP" in leaked


def test_a_leak_while_pooled_connections_closed_still_adds_up(endpoint: Endpoint) -> None:
    # As the reference gateway with leak-on-timeout: its pooled connection to the slowed
    # downstream closed at the timeout while the workers it started stayed blocked.
    before = dump((WRITER, 1), (MAIN, 1), (IDLE, 2), (READ_LOOP, 1), (WRITE_LOOP, 1))
    endpoint.dumps = [before, dump((WRITER, 1), (MAIN, 1), (IDLE, 2), (STUCK, 20))]
    env = env_for(endpoint)
    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"), settle_s=0.3)
    first = verdict.message.splitlines()[0]
    assert first.startswith("api leaked 20 goroutine(s): 6 → 24 goroutines, 20 more that are ")
    assert first.endswith("; and 2 fewer read/write loops of pooled outgoing connections.")


def test_a_response_body_never_closed_is_a_leak(endpoint: Endpoint) -> None:
    endpoint.dumps = [BASELINE, dump((WRITER, 1), (MAIN, 1), (IDLE, 6), (BODY_NOT_CLOSED, 2))]
    env = env_for(endpoint)
    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"), settle_s=0.3)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.message.startswith("api leaked 2 goroutine(s): 8 → 10 goroutines")
    assert "net/http.(*persistConn).readLoop" in verdict.evidence["leaked goroutines"]


def test_a_leak_that_drains_while_the_check_waits_passes(endpoint: Endpoint) -> None:
    draining = dump((WRITER, 1), (MAIN, 1), (IDLE, 6), (STUCK, 3))
    endpoint.dumps = [BASELINE, draining, draining, BASELINE]
    env = env_for(endpoint)
    verdict = no_leaked_goroutines(env, goroutine_baseline(env, "api"), settle_s=5)
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert endpoint.served == 4
    assert verdict.evidence["goroutines"].count("\n") == 3  # baseline and three readings


def test_ignore_frames_excludes_a_services_own_goroutines(endpoint: Endpoint) -> None:
    endpoint.dumps = [BASELINE, dump((WRITER, 1), (MAIN, 1), (IDLE, 6), (STUCK, 2))]
    env = env_for(endpoint)
    verdict = no_leaked_goroutines(
        env, goroutine_baseline(env, "api"), settle_s=0.3, ignore_frames=["main.stuck"]
    )
    assert verdict.outcome is Outcome.PASS, verdict.message
    assert verdict.message == (
        "api: 8 → 10 goroutines: all 2 more are not counted (2 goroutines matching ignore_frames)"
    )

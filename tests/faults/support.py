"""What the fault tests share: the link they break, and a small HTTP client that reports
what a request through it came to, seen from the client's socket."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

from harness.environment import Environment

LINK = "gateway->inventory"
COMPOSE = Path(__file__).with_name("compose.yml")
# A healthy request through the link takes a few ms on loopback; anything within this much
# of the baseline counts as "normal latency" after a heal.
NORMAL_SLACK_MS = 50.0
# What a busy machine may add to one request (scheduling, not the fault): used only for the
# upper bound on single requests; medians and lower bounds do without it.
NOISE_MS = 25.0


@dataclass(frozen=True)
class Reply:
    """What one request through the link came to, seen from the client's socket."""

    status: int | None  # None when no complete status line arrived
    received: int  # bytes received in all
    complete: bool  # a whole response (head and Content-Length body) arrived
    closed: bool  # the connection ended (EOF or reset) before we stopped reading
    timed_out: bool  # nothing more arrived within the client's timeout
    elapsed_ms: float  # until the response was complete, the connection ended, or timeout
    head: bytes
    body: bytes

    @property
    def ok(self) -> bool:
        return self.complete and self.status == 200


def fetch(
    address: tuple[str, int],
    path: str = "/products/1",
    *,
    close: bool = False,
    timeout_s: float = 2.0,
) -> Reply:
    """One GET on a new connection. With ``close`` the client asks the server to close and
    reads until EOF; otherwise it stops once the response is complete (keep-alive)."""
    request = f"GET {path} HTTP/1.1\r\nHost: chaos\r\n"
    request += "Connection: close\r\n\r\n" if close else "\r\n"
    data = b""
    closed = timed_out = False
    started = time.monotonic()
    deadline = started + timeout_s
    with socket.create_connection(address, timeout=timeout_s) as sock:
        sock.sendall(request.encode())
        while close or not _complete(data):
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                timed_out = True
                break
            except ConnectionError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    elapsed_ms = (time.monotonic() - started) * 1000
    head, _, body = data.partition(b"\r\n\r\n")
    status = None
    parts = head.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
        status = int(parts[1])
    return Reply(status, len(data), _complete(data), closed, timed_out, elapsed_ms, head, body)


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def assert_nothing_remains(env: Environment, baseline_ms: float) -> None:
    """The proxy has no toxic and is up, and requests succeed at normal latency.

    Every one of three requests must succeed; the fastest must be within the baseline plus
    NORMAL_SLACK_MS (a leftover delay slows every request, a busy machine only some).
    """
    proxy = env.proxy(LINK)
    assert proxy.toxics() == [], f"toxics left on the link: {proxy.toxics()}"
    assert proxy.enabled, "the link is still down"
    assert env.active_faults == ()
    address = env.link_address(LINK)
    replies = [fetch(address) for _ in range(3)]
    assert all(r.ok for r in replies), f"a request after heal failed: {replies}"
    fastest = min(r.elapsed_ms for r in replies)
    assert fastest < baseline_ms + NORMAL_SLACK_MS, (
        f"requests after heal took {fastest:.0f} ms or more (baseline {baseline_ms:.0f} ms)"
    )

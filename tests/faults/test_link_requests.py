"""Requests per link, counted by the harness's Toxiproxy as they cross it.

The counter is the harness's instrument, not a fault: it is on every link it supplies
from the start, comes back after every reset (Toxiproxy's reset removes every toxic), is
never a leftover, and counts requests on a connection that stays open, which byte metrics
(added only when a connection closes) cannot.
"""

from __future__ import annotations

import socket

from faults import HttpError, LinkDown
from harness.environment import Environment
from harness.toxiproxy import COUNTER
from tests.faults.support import LINK


def test_requests_on_one_open_connection_are_counted_as_they_cross(
    link_env: Environment,
) -> None:
    before = link_env.link_requests()
    assert before is not None
    assert set(before) == {LINK}
    counts = []
    with socket.create_connection(link_env.link_address(LINK), timeout=5) as sock:
        reader = sock.makefile("rb")
        for n in range(5):
            sock.sendall(f"GET /products/{1 + n % 3} HTTP/1.1\r\nHost: chaos\r\n\r\n".encode())
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)
            now = link_env.link_requests()
            assert now is not None
            counts.append(now[LINK] - before[LINK])
    assert counts == [1, 2, 3, 4, 5], "counted while the connection stayed open"


def test_the_counter_is_no_fault_and_outlives_every_reset(link_env: Environment) -> None:
    proxy = link_env.proxy(LINK)
    assert proxy.toxics() == []  # the counter is not shown among the faults
    assert proxy.requests_counted() is not None
    # A toxic a fault left on and a link left down: the reset removes them, and the counter.
    HttpError(LINK, status=503).apply()
    LinkDown(LINK).apply()
    leftovers = link_env.heal_all()
    assert not any(COUNTER in text for text in leftovers), leftovers
    assert proxy.requests_counted() == 0, "put back by heal_all, counting afresh"
    before = link_env.link_requests()
    assert before is not None
    with socket.create_connection(link_env.link_address(LINK), timeout=5) as sock:
        sock.sendall(b"GET /products/1 HTTP/1.1\r\nHost: chaos\r\nConnection: close\r\n\r\n")
        while sock.recv(65536):
            pass
    after = link_env.link_requests()
    assert after is not None
    assert after[LINK] - before[LINK] == 1

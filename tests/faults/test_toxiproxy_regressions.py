"""Regressions in Toxiproxy itself that the harness's own build fixes.

harness/toxiproxy_build/patches/0001-remove-toxic-drops-closed-stub.patch: removing a toxic
while a connection is held open by a slow_close left a closed stub behind, and the next
toxic added on that stream crashed the whole server (index out of range, or a toxic run
on another toxic's state). Explorations hit it as "Toxiproxy did not answer" right after
a fault was applied.
"""

from __future__ import annotations

import pytest

from faults import HttpError, Latency, SlowClose
from faults.http import HttpFault
from faults.network import Stream
from harness.environment import Environment
from harness.errors import FaultError
from tests.faults.support import LINK, fetch

Address = tuple[str, int]


def proxy_answers(env: Environment) -> bool:
    """The link's Toxiproxy still answers its API (a crashed server does not)."""
    try:
        env.proxy(LINK).toxics()
    except FaultError:
        return False
    return True


@pytest.mark.parametrize(
    ("stream", "removed_first", "added_next"),
    [
        # what a heal followed by the next apply does (the same as POST /reset, then add)
        ("upstream", "both", SlowClose(LINK, stream="upstream", delay_ms=3000)),
        # the toxic in front of slow_close is healed, a stateful toxic comes next
        ("downstream", "latency", HttpError(LINK, status=503)),
    ],
)
def test_a_toxic_removed_during_a_slow_close_does_not_crash_toxiproxy(
    link_env: Environment,
    link_address: Address,
    stream: Stream,
    removed_first: str,
    added_next: SlowClose | HttpFault,
) -> None:
    latency = Latency(LINK, stream=stream, ms=0)
    slow_close = SlowClose(LINK, stream=stream, delay_ms=3000)
    latency.apply(link_env)
    slow_close.apply(link_env)
    # A connection the client has closed, held open by slow_close for its delay.
    assert fetch(link_address).ok
    latency.heal(link_env)
    if removed_first == "both":
        slow_close.heal(link_env)
    with added_next:
        assert proxy_answers(link_env), "Toxiproxy died when a toxic was added"
        types = {toxic.type for toxic in link_env.proxy(LINK).toxics()}
        assert added_next.toxic_type in types, f"{added_next.describe()} is not on: {types}"
    slow_close.heal(link_env)
    assert proxy_answers(link_env)
    assert fetch(link_address).ok

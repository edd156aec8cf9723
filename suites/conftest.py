"""Shared helpers for the chaos suites against the reference system in compose/."""

from __future__ import annotations

import re

import pytest

from harness.environment import Environment

_GO_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")
_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0}


def go_duration_ms(text: str) -> float:
    """Milliseconds in a Go duration such as '1s' or '250ms' (the forms the services read)."""
    match = _GO_DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Go duration like 1s or 250ms")
    return float(match.group(1)) * _MS[match.group(2)]


@pytest.fixture
def gateway_deadline_ms(chaos: Environment) -> float:
    """The gateway's per-call downstream deadline, as the compose file configures it."""
    env = chaos.topology.service("gateway").environment
    return go_duration_ms(env.get("DOWNSTREAM_TIMEOUT", "1s"))

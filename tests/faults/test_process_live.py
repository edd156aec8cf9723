"""Process faults on the reference system's real containers (the plugin's ``chaos``
fixture), observed on the service's own published port and in its container state."""

from __future__ import annotations

import time

import requests

from faults import Kill, Pause, Restart, Terminate
from harness.environment import Environment
from harness.errors import ChaosError

SERVICE = "inventory"
LINK = "gateway->inventory"
HEALTHY_MS = 100.0  # a health check on loopback answers in a few ms once the service is ready


def answers(env: Environment, timeout_s: float = 0.5) -> bool:
    # The port is looked up each time: a restarted container may be published on a new one.
    try:
        reply = requests.get(env.url(SERVICE) + "/healthz", timeout=timeout_s)
    except (requests.RequestException, ChaosError):
        return False
    return reply.status_code == 200


def assert_nothing_remains(env: Environment) -> None:
    """No fault is on, the link is clean, and the service answers at normal latency."""
    assert env.active_faults == ()
    assert env.proxy(LINK).toxics() == []
    assert env.proxy(LINK).enabled
    assert env.state(SERVICE).status == "running"
    started = time.monotonic()
    assert answers(env, timeout_s=2.0)
    assert (time.monotonic() - started) * 1000 < HEALTHY_MS


def test_kill_stops_the_process_with_sigkill_and_heal_brings_it_back_ready(
    chaos: Environment,
) -> None:
    fault = Kill(SERVICE)
    fault.apply()
    fault.apply()  # idempotent: the service is already dead
    state = chaos.state(SERVICE)
    assert not state.alive
    assert state.exit_code == 137  # 128 + SIGKILL
    assert not answers(chaos)
    fault.heal()
    fault.heal()
    assert chaos.state(SERVICE).alive
    assert_nothing_remains(chaos)


def test_terminate_lets_the_process_exit_on_sigterm_and_heal_brings_it_back(
    chaos: Environment,
) -> None:
    with Terminate(SERVICE, exit_timeout_s=20):
        state = chaos.state(SERVICE)
        assert not state.alive, "apply returns only once the process has exited"
        assert state.exit_code != 137, "it was killed rather than left to shut down"
        assert not answers(chaos)
    assert_nothing_remains(chaos)


def test_pause_freezes_the_process_and_heal_resumes_it(chaos: Environment) -> None:
    pid = chaos.state(SERVICE).pid
    with Pause(SERVICE):
        Pause(SERVICE).apply()  # idempotent while paused
        assert chaos.state(SERVICE).status == "paused"
        started = time.monotonic()
        assert not answers(chaos, timeout_s=0.5)
        assert time.monotonic() - started >= 0.4, "a frozen process hangs, it does not refuse"
    assert_nothing_remains(chaos)
    assert chaos.state(SERVICE).pid == pid, "resume must not restart the process"


def test_restart_starts_a_new_process_and_heal_waits_until_it_is_ready(
    chaos: Environment,
) -> None:
    before = chaos.state(SERVICE).started_at
    with Restart(SERVICE):
        Restart(SERVICE).apply()  # still on: not restarted a second time
        after = chaos.state(SERVICE).started_at
        assert after != before
    assert chaos.state(SERVICE).started_at == after
    assert_nothing_remains(chaos)


def test_load_on_a_killed_service_records_refused_requests_that_surely_had_no_effect(
    chaos: Environment,
) -> None:
    address = chaos.url(SERVICE)
    with Kill(SERVICE):
        assert chaos.url(SERVICE) == address  # the address stays while it is down
        result = chaos.load(SERVICE, "POST /reservations", rate=20, seconds=0.5)
    completions = [done for _, done in result.history.completed()]
    assert len(completions) == result.sent >= 5
    # Refused before a byte was sent: a definite failure, even for a write.
    assert {done.type for done in completions} == {"fail"}
    assert all((done.error or "").startswith("connect:") for done in completions)
    assert_nothing_remains(chaos)

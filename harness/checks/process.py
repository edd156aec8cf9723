"""Process invariants: a service survives faults, and its runtime reports no crash or race."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

from harness.backends.base import ServiceState
from harness.checks.verdict import Verdict
from harness.errors import ChaosError
from harness.probes import LogFinding, scan_logs

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = ["ServiceSnapshot", "no_runtime_reports", "snapshot", "survives"]


@dataclass(frozen=True)
class ServiceSnapshot:
    """What a service looked like before a fault: its process and where its log was."""

    state: ServiceState
    log_mark: int


def snapshot(env: Environment, service: str) -> ServiceSnapshot:
    return ServiceSnapshot(env.state(service), env.log_mark(service))


def survives(env: Environment, service: str, before: ServiceSnapshot) -> Verdict:
    """Same process as before (no crash, no restart), healthy, no panic or fatal error logged."""
    name = "survives"
    try:
        now = env.state(service)
        logs = env.logs_since(service, before.log_mark)
    except ChaosError as exc:
        return Verdict.unknown(name, f"could not read the state of {service!r}: {exc}")
    crashes = [f for f in scan_logs(logs) if f.kind in ("panic", "fatal error")]
    evidence = {"log since the fault": logs[-20_000:]}
    problems: list[str] = []
    if not now.alive:
        problems.append(f"it is not running (status {now.status}, exit code {now.exit_code})")
    if now.oom_killed:
        problems.append("it was killed for running out of memory")
    if before.state.pid is not None and now.pid not in (None, before.state.pid):
        problems.append(f"its process changed (PID {before.state.pid} → {now.pid})")
    if now.started_at != before.state.started_at or now.restarts != before.state.restarts:
        problems.append(f"it was restarted (started {before.state.started_at} → {now.started_at})")
    problems += [f"its log shows a {f.kind}:\n{_indent(f.excerpt)}" for f in crashes]
    if not problems:
        health = _health(env, service)
        if health is not None:
            problems.append(health)
    if problems:
        return Verdict.failing(
            name, f"{service} did not survive: " + "; ".join(problems), **evidence
        )
    return Verdict.passing(name, f"{service}: same process, healthy, no crash in its log")


def no_runtime_reports(
    env: Environment,
    service: str,
    since: int = 0,
    kinds: Iterable[str] = ("data race", "panic", "fatal error"),
    *,
    also: Iterable[str] = (),
) -> Verdict:
    """The service's log (after the ``since`` mark) holds no runtime report of these kinds.

    With the race-detector build this is the race check: ``WARNING: DATA RACE`` reports.
    ``also`` adds plain substrings that count as reports (e.g. net/http's
    ``superfluous response.WriteHeader``).
    """
    wanted = set(kinds)
    extra = tuple(also)
    name = "no " + " / ".join(sorted(wanted) + list(extra)) + " reports"
    try:
        logs = env.logs_since(service, since)
    except ChaosError as exc:
        return Verdict.unknown(name, f"could not read the log of {service!r}: {exc}")
    found = [f for f in scan_logs(logs) if f.kind in wanted]
    found += [
        LogFinding(text, number, line)
        for number, line in enumerate(logs.splitlines(), start=1)
        for text in extra
        if text in line
    ]
    if found:
        shown = "\n".join(
            f"{f.kind} at log line {f.line}:\n{_indent(f.excerpt)}" for f in found[:3]
        )
        return Verdict.failing(
            name,
            f"{service} logged {len(found)} runtime report(s):\n{shown}",
            reports="\n\n".join(f.excerpt for f in found),
        )
    return Verdict.passing(name, f"{service} logged no {' / '.join(sorted(wanted))}")


def _health(env: Environment, service: str) -> str | None:
    path = env.topology.service(service).health
    if path is None:
        return None
    try:
        reply = requests.get(env.url(service) + path, timeout=2)
    except requests.RequestException as exc:
        return f"its health check {path} did not answer ({type(exc).__name__})"
    if reply.status_code != 200:
        return f"its health check {path} answered {reply.status_code}"
    return None


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())

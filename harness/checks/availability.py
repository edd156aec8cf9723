"""Read availability: under a partition, reads keep being answered (marked degraded)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.checks.verdict import Verdict
from harness.history import FAIL, INFO, OK, History

__all__ = ["available_at_least"]


def available_at_least(
    history: History,
    target: float,
    *,
    degraded: Callable[[Mapping[str, Any]], bool] | None = None,
    what: str = "requests",
) -> Verdict:
    """At least ``target`` (0..1) of the requests were answered ``ok``.

    With ``degraded``, the answers it marks as degraded are counted too and at least one
    must be seen, which proves the fallback, not the primary path, did the serving.
    ``what`` names the requests in messages (e.g. "product reads during the partition");
    the statuses of those not answered ``ok`` are listed.
    """
    name = "read availability"
    completed = history.completed(OK, FAIL, INFO)
    if not completed:
        return Verdict.unknown(name, "the history holds no completed request")
    ok = [done for _, done in completed if done.type == OK]
    share = len(ok) / len(completed)
    marked = 0
    if degraded is not None:
        marked = sum(1 for done in ok if isinstance(done.value, dict) and degraded(done.value))
    summary = f"{len(ok)}/{len(completed)} {what} answered ({share:.0%}; target {target:.0%})"
    if degraded is not None:
        summary += f", {marked} marked degraded"
    if share < target:
        failed: dict[str, int] = {}
        for _, done in completed:
            if done.type != OK:
                status = done.value.get("status") if isinstance(done.value, dict) else None
                key = str(status) if status is not None else f"no answer ({done.error})"
                failed[key] = failed.get(key, 0) + 1
        listed = ", ".join(f"{n} x {key}" for key, n in sorted(failed.items()))
        return Verdict.failing(
            name, f"availability fell below target: {summary}; the others got {listed}"
        )
    if degraded is not None and marked == 0:
        return Verdict.failing(
            name, f"{summary}, but none was marked degraded: the fault may not have fired"
        )
    return Verdict.passing(name, summary)

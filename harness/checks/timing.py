"""Invariants over the replies in a history: graceful timeouts, well-formed answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from harness.checks.verdict import Outcome, Verdict
from harness.history import FAIL, INFO, OK, History

__all__ = ["answers_within", "replies_well_formed", "status_counts"]


def answers_within(
    history: History,
    budget_ms: float,
    *,
    epsilon_ms: float = 250.0,
    statuses: Iterable[int] | None = None,
    select: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Verdict:
    """Every request got an HTTP answer within budget + epsilon (no client-side timeout).

    With ``statuses``, every answer must also have one of those codes (e.g. 200, 503, 504:
    success or a graceful refusal). With ``select``, only the replies it picks are judged;
    when it picks none the verdict is unknown, never a pass.
    """
    name = "answers within budget"
    limit = budget_ms + epsilon_ms
    allowed = set(statuses) if statuses is not None else None
    completed = history.completed(OK, FAIL, INFO)
    if not completed:
        return Verdict(name, Outcome.UNKNOWN, "the history holds no completed request")
    problems: list[str] = []
    judged = 0
    for invoke, done in completed:
        value = done.value if isinstance(done.value, dict) else {}
        if select is not None and not select(value):
            continue
        judged += 1
        status, latency = value.get("status"), value.get("latency_ms")
        if status is None:
            problems.append(f"#{invoke.index} got no answer ({done.error}) after {latency} ms")
        elif isinstance(latency, int | float) and latency > limit:
            problems.append(f"#{invoke.index} answered {status} after {latency:.0f} ms")
        elif allowed is not None and status not in allowed:
            problems.append(f"#{invoke.index} answered {status}, not one of {sorted(allowed)}")
    if not judged:
        return Verdict(
            name, Outcome.UNKNOWN, f"none of the {len(completed)} replies matched the selection"
        )
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        return Verdict(
            name,
            Outcome.FAIL,
            f"{len(problems)} of {judged} requests broke the budget of {budget_ms:.0f} ms "
            f"+ {epsilon_ms:.0f} ms:\n  {shown}{more}",
            {"violations": "\n".join(problems)},
        )
    return Verdict(
        name,
        Outcome.PASS,
        f"all {judged} requests answered within {limit:.0f} ms",
    )


def status_counts(history: History) -> dict[int | None, int]:
    """How many completions had each HTTP status (None: no answer)."""
    counts: dict[int | None, int] = {}
    for _, done in history.completed(OK, FAIL, INFO):
        status = done.value.get("status") if isinstance(done.value, dict) else None
        key = status if isinstance(status, int) else None
        counts[key] = counts.get(key, 0) + 1
    return counts


def replies_well_formed(
    history: History,
    *,
    is_well_formed: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Verdict:
    """Every request got a complete HTTP reply with a parseable body.

    A dropped connection (no status) or a body that is not the JSON the service always
    answers (say, two replies written into one response) is a malformed reply. By default
    a reply is well formed when its body parsed as JSON; pass ``is_well_formed`` for
    services that answer something else.
    """
    name = "replies well formed"
    completed = history.completed(OK, FAIL, INFO)
    if not completed:
        return Verdict.unknown(name, "the history holds no completed request")
    check = is_well_formed or (lambda value: value.get("body") is not None)
    problems: list[str] = []
    for invoke, done in completed:
        value = done.value if isinstance(done.value, dict) else {}
        if value.get("status") is None:
            problems.append(f"#{invoke.index} got no reply: {done.error}")
        elif not check(value):
            problems.append(f"#{invoke.index} answered {value.get('status')} with a malformed body")
    if problems:
        shown = "\n  ".join(problems[:10])
        return Verdict.failing(
            name,
            f"{len(problems)} of {len(completed)} requests got no or a malformed reply:\n  {shown}",
            violations="\n".join(problems),
        )
    return Verdict.passing(name, f"all {len(completed)} replies complete and well formed")

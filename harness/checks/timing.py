"""Invariants over the replies in a history: graceful timeouts, well-formed answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from harness.checks.verdict import Verdict
from harness.history import FAIL, INFO, OK, History, request_label

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

    No answer at all, an answer over budget and an answer with another status are separate
    findings, each counted and listed on its own (a request both late and refused is in
    both); requests are named by :func:`harness.history.request_label`.
    """
    name = "answers within budget"
    limit = budget_ms + epsilon_ms
    allowed = set(statuses) if statuses is not None else None
    completed = history.completed(OK, FAIL, INFO)
    if not completed:
        return Verdict.unknown(name, "the history holds no completed request")
    unanswered: list[str] = []
    late: list[str] = []
    refused: list[str] = []
    wrong: Counter[int] = Counter()
    broken = judged = 0
    for invoke, done in completed:
        value = done.value if isinstance(done.value, dict) else {}
        if select is not None and not select(value):
            continue
        judged += 1
        status, latency = value.get("status"), value.get("latency_ms")
        label = request_label(invoke, done)
        took = f"{latency:.0f} ms" if isinstance(latency, int | float) else "an unknown time"
        found = False
        if status is None:
            unanswered.append(f"{label} got no answer after {took}: {done.error}")
            found = True
        else:
            if isinstance(latency, int | float) and latency > limit:
                late.append(f"{label} answered {status} after {took}")
                found = True
            if allowed is not None and status not in allowed:
                refused.append(f"{label} answered {status} after {took}")
                wrong[status] += 1
                found = True
        broken += found
    if not judged:
        return Verdict.unknown(name, f"none of the {len(completed)} replies matched the selection")
    promise = f"an answer within {budget_ms:.0f} ms + {epsilon_ms:.0f} ms"
    if allowed is not None:
        promise += f" with status {_statuses(allowed)}"
    if not broken:
        return Verdict.passing(name, f"all {judged} requests got {promise}")
    kinds = ", ".join(f"{n} x {code}" for code, n in sorted(wrong.items()))
    return _failing(
        name,
        f"{broken} of {judged} requests did not get {promise}",
        [
            ("no answer", f"{len(unanswered)} got no answer at all", unanswered),
            ("over budget", f"{len(late)} answered after more than {limit:.0f} ms", late),
            ("wrong status", f"{len(refused)} answered with another status ({kinds})", refused),
        ],
    )


def _failing(name: str, summary: str, findings: list[tuple[str, str, list[str]]]) -> Verdict:
    """A failing verdict with one headline, list and evidence entry per kind of finding.

    ``findings`` holds (evidence name, headline with its count, one line per request);
    kinds without a request are left out.
    """
    present = [finding for finding in findings if finding[2]]
    headlines = "; ".join(headline for _, headline, _ in present)
    sections = "\n  ".join(f"{headline}:\n    {_shown(lines)}" for _, headline, lines in present)
    return Verdict.failing(
        name,
        f"{summary}: {headlines}.\n  {sections}",
        **{key: "\n".join(lines) for key, _, lines in present},
    )


def _statuses(allowed: set[int]) -> str:
    codes = [str(code) for code in sorted(allowed)]
    return codes[0] if len(codes) == 1 else ", ".join(codes[:-1]) + f" or {codes[-1]}"


def _shown(lines: list[str], limit: int = 10) -> str:
    more = f"\n    … and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n    ".join(lines[:limit]) + more


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
    services that answer something else. No reply and a malformed reply are counted and
    listed apart; requests are named by :func:`harness.history.request_label`.
    """
    name = "replies well formed"
    completed = history.completed(OK, FAIL, INFO)
    if not completed:
        return Verdict.unknown(name, "the history holds no completed request")
    check = is_well_formed or (lambda value: value.get("body") is not None)
    if is_well_formed is None:
        flaw = "a body that is not JSON"
        hint = " (pass is_well_formed= for a service that answers something else)"
    else:
        flaw, hint = "a body is_well_formed rejects", ""
    unanswered: list[str] = []
    malformed: list[str] = []
    for invoke, done in completed:
        value = done.value if isinstance(done.value, dict) else {}
        label = request_label(invoke, done)
        if value.get("status") is None:
            unanswered.append(f"{label} got no reply: {done.error}")
        elif not check(value):
            malformed.append(f"{label} answered {value.get('status')} with {flaw}")
    if not unanswered and not malformed:
        return Verdict.passing(name, f"all {len(completed)} replies complete and well formed")
    return _failing(
        name,
        f"{len(unanswered) + len(malformed)} of {len(completed)} requests got no or a "
        "malformed reply",
        [
            ("no reply", f"{len(unanswered)} got no reply", unanswered),
            ("malformed", f"{len(malformed)} answered with {flaw}{hint}", malformed),
        ],
    )

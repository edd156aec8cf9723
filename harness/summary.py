"""The run's closing summary: a verdict per invariant, the faults fired, the seed, and where
the report and any saved failing schedules are.

:class:`RunSummary` is a listener (see :mod:`harness.events`): the session subscribes it to
every environment it starts, so it counts the verdicts judged against a running system,
the faults switched on, replays saved and notes. The session prints
:func:`render_summary` from ``pytest_terminal_summary`` once a chaos system ran.
With pytest-xdist each worker keeps its own tally, so the controller's summary shows only
what it saw itself (the seed and the report's place).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faults.base import Fault
    from harness.checks.verdict import Verdict

__all__ = ["RunSummary", "render_summary", "write_terminal"]

_ORDER = {"fail": 0, "unknown": 1, "pass": 2}


@dataclass
class RunSummary:
    verdicts: dict[str, Counter[str]] = field(default_factory=dict)  # check -> outcome -> n
    first_failure: dict[str, str] = field(default_factory=dict)  # check -> its first message
    faults: Counter[str] = field(default_factory=Counter)  # fault kind -> times switched on
    replays: list[str] = field(default_factory=list)  # saved failing schedules
    notes: list[str] = field(default_factory=list)  # e.g. "reproduced 3/5"
    environments: int = 0

    def verdict(self, check: str, outcome: str, message: str) -> None:
        self.verdicts.setdefault(check, Counter())[outcome] += 1
        if outcome == "fail":
            self.first_failure.setdefault(check, message)

    @property
    def active(self) -> bool:
        return bool(self.environments or self.verdicts or self.faults or self.replays)

    # -- listener ------------------------------------------------------------------------

    def on_verdict(self, verdict: Verdict) -> None:
        self.verdict(verdict.check, verdict.outcome.value, verdict.message)

    def on_fault(self, fault: Fault, active: bool) -> None:
        if active:
            self.faults[fault.kind] += 1

    def on_note(self, text: str) -> None:
        self.notes.append(text)

    def on_replay_saved(self, path: str) -> None:
        self.replays.append(path)


def _overall(counts: Counter[str]) -> str:
    if counts["fail"]:
        return "FAIL"
    if counts["pass"]:
        return "pass"
    return "unknown"


def render_summary(
    summary: RunSummary,
    *,
    seed: int,
    system: str = "",
    report: str | None = None,
) -> list[str]:
    """The summary as lines: invariants (failing first), faults, seed, report, replays.

    ``system`` says what ran (which seeded bugs were on, if the system has any).
    """
    lines = [f"seed {seed}" + (f"; {system}" if system else "")]
    if summary.verdicts:
        lines.append("invariants:")
        width = max(len(name) for name in summary.verdicts)
        ranked = sorted(
            summary.verdicts.items(), key=lambda kv: (_ORDER[_overall(kv[1]).lower()], kv[0])
        )
        for name, counts in ranked:
            tally = ", ".join(f"{counts[o]} {o}" for o in ("pass", "fail", "unknown") if counts[o])
            lines.append(f"  {name:<{width}}  {_overall(counts):<7}  ({tally})")
            if name in summary.first_failure:
                first = summary.first_failure[name].splitlines()[0]
                lines.append(f"  {'':<{width}}  first failure: {first[:160]}")
    else:
        lines.append("invariants: none checked")
    if summary.faults:
        fired = ", ".join(f"{kind} x{n}" for kind, n in sorted(summary.faults.items()))
        lines.append(f"faults fired: {sum(summary.faults.values())} ({fired})")
    else:
        lines.append("faults fired: none")
    lines += summary.notes
    for path in summary.replays:
        lines.append(f"failing schedule saved: {path}")
    lines.append(f"report: {report}" if report else "report: none (pass --alluredir=DIR)")
    return lines


def write_terminal(
    reporter: object, summary: RunSummary, *, seed: int, system: str, report: str | None
) -> None:
    """Print the summary through pytest's terminal reporter, if a chaos system ran."""
    if not summary.active:
        return
    write_sep = getattr(reporter, "write_sep")  # noqa: B009 - a TerminalReporter
    write_line = getattr(reporter, "write_line")  # noqa: B009
    write_sep("=", "chaos-harness summary")
    for text in render_summary(summary, seed=seed, system=system, report=report):
        write_line(text)

"""The run's closing summary: a verdict per invariant, the faults fired, the seed, and where
the report and any saved failing schedules are.

:class:`RunSummary` is a listener (see :mod:`harness.events`): the session subscribes it to
every environment it starts, so it counts the verdicts judged against a running system,
the faults switched on, replays saved and notes. The session prints
:func:`render_summary` from ``pytest_terminal_summary`` once a chaos system ran.
With pytest-xdist each worker keeps its own tally, so the controller's summary shows only
what it saw itself (the seed and the report's place).

A summary goes to JSON and back (:meth:`RunSummary.to_json`), and summaries of several
shards or workers add up (:func:`merge_summaries`): the merged report
(:mod:`harness.merge`) shows one summary and one coverage table for the whole run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faults.base import Fault
    from harness.checks.verdict import Verdict

__all__ = [
    "RunSummary",
    "merge_summaries",
    "render_coverage",
    "render_summary",
    "write_terminal",
]

_ORDER = {"fail": 0, "unknown": 1, "pass": 2}


@dataclass
class RunSummary:
    verdicts: dict[str, Counter[str]] = field(default_factory=dict)  # check -> outcome -> n
    first_failure: dict[str, str] = field(default_factory=dict)  # check -> its first message
    faults: Counter[str] = field(default_factory=Counter)  # fault kind -> times switched on
    replays: list[str] = field(default_factory=list)  # saved failing schedules
    notes: list[str] = field(default_factory=list)  # e.g. "reproduced 3/5"
    environments: int = 0
    explorations: list[dict[str, Any]] = field(default_factory=list)  # Exploration.record()s

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

    def on_explored(self, record: Mapping[str, Any]) -> None:
        self.explorations.append(dict(record))

    # -- JSON ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "verdicts": {check: dict(counts) for check, counts in self.verdicts.items()},
            "first_failure": dict(self.first_failure),
            "faults": dict(self.faults),
            "replays": list(self.replays),
            "notes": list(self.notes),
            "environments": self.environments,
            "explorations": list(self.explorations),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        return cls(
            verdicts={c: Counter(n) for c, n in dict(data.get("verdicts", {})).items()},
            first_failure=dict(data.get("first_failure", {})),
            faults=Counter(dict(data.get("faults", {}))),
            replays=list(data.get("replays", [])),
            notes=list(data.get("notes", [])),
            environments=int(data.get("environments", 0)),
            explorations=list(data.get("explorations", [])),
        )


def merge_summaries(summaries: Iterable[RunSummary]) -> RunSummary:
    """The summaries of several shards (or workers) as one: counts added, the first
    failure of each check kept from the first summary that has one."""
    merged = RunSummary()
    for summary in summaries:
        for check, counts in summary.verdicts.items():
            merged.verdicts.setdefault(check, Counter()).update(counts)
        for check, message in summary.first_failure.items():
            merged.first_failure.setdefault(check, message)
        merged.faults.update(summary.faults)
        merged.replays += summary.replays
        merged.notes += summary.notes
        merged.environments += summary.environments
        merged.explorations += summary.explorations
    return merged


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
    shard: str = "",
) -> list[str]:
    """The summary as lines: invariants (failing first), faults, seed, report, replays.

    ``system`` says what ran (which seeded bugs were on, if the system has any); ``shard``
    which part of a sharded run this was (``K/N``), and how to run that part again.
    """
    lines = [
        f"seed {seed}" + (f"; shard {shard}" if shard else "") + (f"; {system}" if system else "")
    ]
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
    for exploration in summary.explorations:
        lines.append(_explored_line(exploration))
    if shard:
        lines.append(f"this shard alone again: --chaos-seed={seed} --chaos-shard={shard}")
    for path in summary.replays:
        lines.append(f"failing schedule saved: {path}")
    lines.append(f"report: {report}" if report else "report: none (pass --alluredir=DIR)")
    return lines


def _explored_line(record: Mapping[str, Any]) -> str:
    found = record.get("found")
    what = f"found {', '.join(found['checks']) or 'a failure'}" if found else "found nothing"
    shard = record.get("shard", "0/1")
    return (
        f"explored {record.get('test', '?')}"
        + (f" (shard {shard})" if shard != "0/1" else "")
        + f": {record.get('examples', 0)} examples in {record.get('seconds', 0):.0f} s "
        f"({record.get('per_minute', 0):.1f} per minute), {what}"
    )


_MARK = {"held": "ok", "broke": "BROKE", "not covered": "-", "not run": "-"}
_RANK = {"-": 0, "ok": 1, "BROKE": 2}


def render_coverage(explorations: Iterable[Mapping[str, Any]]) -> list[str]:
    """What the explorations covered, as lines: per exploration (and shard) how many
    examples and what it found; then, over all of them, a table of fault kinds by target
    (links and services): ok (held), BROKE (an invariant broke), - (not reached), blank
    (not on the plan)."""
    records = list(explorations)
    if not records:
        return ["no exploration ran"]
    lines = [_explored_line(record) for record in records]
    total = sum(int(r.get("examples", 0)) for r in records)
    shards = {str(r.get("shard", "0/1")) for r in records}
    rate = sum(float(r.get("per_minute", 0)) for r in records)
    lines.append(
        f"examples in all: {total}"
        + (f" ({len(shards)} shards at once: {rate:.1f} per minute)" if len(shards) > 1 else "")
    )
    cells: dict[tuple[str, str], str] = {}
    inapplicable: list[str] = []
    for record in records:
        coverage = record.get("coverage") or {}
        for case in coverage.get("cases", []):
            key = (str(case["target"]), str(case["kind"]))
            mark = _MARK.get(str(case["outcome"]), "-")
            # A break anywhere is what the cell says; else a case that held; else not reached.
            if key not in cells or _RANK[mark] > _RANK[cells[key]]:
                cells[key] = mark
        inapplicable += [i for i in coverage.get("inapplicable", []) if i not in inapplicable]
    if not cells:
        lines.append("coverage: no case ran (no coverage phase, or its budget was spent)")
        return lines
    kinds = sorted({kind for _, kind in cells})
    targets = sorted({target for target, _ in cells})
    covered = sum(1 for mark in cells.values() if mark != "-")
    lines.append(f"fault kinds x targets covered: {covered}/{len(cells)}")
    # A row per kind, a column per target: there are fewer targets than kinds.
    width = max(len(k) for k in kinds)
    lines.append(f"{'':<{width}}  " + "  ".join(targets))
    for kind in kinds:
        row = [cells.get((target, kind), "").center(len(target)) for target in targets]
        lines.append(f"{kind:<{width}}  " + "  ".join(row).rstrip())
    lines += [f"not applicable: {text}" for text in inapplicable]
    return lines


def write_terminal(
    reporter: object,
    summary: RunSummary,
    *,
    seed: int,
    system: str,
    report: str | None,
    shard: str = "",
) -> None:
    """Print the summary through pytest's terminal reporter, if a chaos system ran."""
    if not summary.active:
        return
    write_sep = getattr(reporter, "write_sep")  # noqa: B009 - a TerminalReporter
    write_line = getattr(reporter, "write_line")  # noqa: B009
    write_sep("=", "chaos-harness summary")
    for text in render_summary(summary, seed=seed, system=system, report=report, shard=shard):
        write_line(text)

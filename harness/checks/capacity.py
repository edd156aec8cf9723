"""Bounded concurrency: under overload a service's goroutines stay under a ceiling."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.verdict import Verdict

__all__ = ["stays_under"]


def stays_under(
    series: Sequence[tuple[float, float | None]],
    ceiling: float,
    *,
    what: str = "go_goroutines",
    why: str = "",
    why_unobserved: str = "",
) -> Verdict:
    """Every observed value of ``series`` is at most ``ceiling``.

    ``why`` explains the ceiling in a failure; ``why_unobserved`` says why a series without
    a value was not observed (``MetricSampler.why_unobserved`` tells).
    """
    name = f"{what} bounded"
    values = [(t, v) for t, v in series if v is not None]
    if not values:
        because = f": {why_unobserved}" if why_unobserved else ""
        return Verdict.unknown(name, f"{what} was never observed{because}")
    peak_t, peak = max(values, key=lambda tv: tv[1])
    evidence = {what: "\n".join(f"{t:.2f}s {v:g}" for t, v in values)}
    if peak > ceiling:
        return Verdict.failing(
            name,
            f"{what} peaked at {peak:g} (at {peak_t:.2f} s), above the ceiling of {ceiling:g}"
            f"{f' ({why})' if why else ''}: concurrency is not bounded",
            **evidence,
        )
    return Verdict.passing(name, f"{what} peaked at {peak:g}, within {ceiling:g}", **evidence)

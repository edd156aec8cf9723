"""Which tests a run selects: nightly tests only when the run asks for them.

Tests marked ``@pytest.mark.nightly`` (the soak and the long exploration) run minutes; the
default run (CI) leaves them out. A ``-m`` expression that names ``nightly`` (``-m nightly``,
``-m "nightly or pitfall"``) decides for itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["split_nightly", "wants_nightly"]

T = TypeVar("T")


def wants_nightly(markexpr: str) -> bool:
    """True when the -m expression itself mentions nightly (then it selects as it says)."""
    return "nightly" in markexpr


def split_nightly(
    items: Sequence[T], is_nightly: Sequence[bool], markexpr: str
) -> tuple[list[T], list[T]]:
    """(kept, deselected): nightly items are deselected unless -m mentions nightly."""
    if wants_nightly(markexpr):
        return list(items), []
    kept = [item for item, nightly in zip(items, is_nightly, strict=True) if not nightly]
    dropped = [item for item, nightly in zip(items, is_nightly, strict=True) if nightly]
    return kept, dropped

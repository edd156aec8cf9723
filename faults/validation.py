"""Checks that fault fields are built with: each failure is a FaultError naming the field,
what it got and what is allowed, so a bad fault is refused before anything is applied."""

from __future__ import annotations

import math
import re
from collections.abc import Collection

from harness.errors import FaultError

__all__ = [
    "MAX_MS",
    "check_choice",
    "check_int",
    "check_link_name",
    "check_rate",
    "check_seed",
    "check_service_name",
]

# Ten minutes: longer than any chaos test runs, short enough to catch seconds typed as ms.
MAX_MS = 600_000
# Toxiproxy's Go side reads seeds as int64; a non-negative int64 survives JSON everywhere.
MAX_SEED = 2**63 - 1

_LINK = re.compile(r"^[A-Za-z0-9_.-]+->[A-Za-z0-9_.-]+$")
_SERVICE = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_int(owner: str, name: str, value: object, low: int, high: int, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{owner}.{name} must be a whole number of {unit}, got {value!r}")
    if not low <= value <= high:
        raise FaultError(f"{owner}.{name} must be between {low} and {high} {unit}, got {value}")


def check_rate(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{owner}.{name} must be a number between 0 and 1, got {value!r}")
    if math.isnan(value) or not 0 <= value <= 1:
        raise FaultError(f"{owner}.{name} must be between 0 and 1 (a fraction), got {value}")


def check_seed(owner: str, name: str, value: object) -> None:
    if value is not None:
        check_int(owner, name, value, 0, MAX_SEED, "(a non-negative 63-bit seed)")


def check_choice(owner: str, name: str, value: object, allowed: Collection[str]) -> None:
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise FaultError(f"{owner}.{name} must be one of {choices}, got {value!r}")


def check_link_name(owner: str, value: object) -> None:
    if not isinstance(value, str) or not _LINK.match(value):
        raise FaultError(f"{owner}.link must name a link like 'front->back', got {value!r}")


def check_service_name(owner: str, name: str, value: object) -> None:
    if not isinstance(value, str) or not _SERVICE.match(value):
        raise FaultError(f"{owner}.{name} must name a service like 'back', got {value!r}")

"""Small readers the compose modules share: a value of the expected type or an error that
names the key and the file, Go durations, commands, scalars as compose writes them."""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Mapping
from typing import Any

from harness.errors import TopologyError

__all__ = [
    "as_flag",
    "as_list",
    "as_mapping",
    "error",
    "optional_str",
    "parse_duration",
    "scalar_text",
    "split_command",
    "unknown_key",
]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def error(where: str, what: str, message: str) -> TopologyError:
    """A refusal of ``what`` (a key path such as ``services.api.ports``) in the file ``where``."""
    return TopologyError(f"{what} in {where}: {message}")


def parse_duration(raw: object) -> float | None:
    """A Go duration (``1m30s``, ``500ms``, ``0``) in seconds, or None when it is not one."""
    text = str(raw).strip()
    if isinstance(raw, bool) or not text:
        return None
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match:
            return None
        total += float(match[1]) * _DURATION_UNITS[match[2]]
        pos = match.end()
    return total


def split_command(raw: object, where: str, what: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            return tuple(shlex.split(raw))
        except ValueError as exc:
            raise TopologyError(f"{what} in {where}: {raw!r} cannot be split: {exc}") from None
    if isinstance(raw, list):
        return tuple(scalar_text(part) for part in raw)
    raise TopologyError(f"{what} in {where} must be a string or a list")


def scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def optional_str(raw: object) -> str | None:
    return None if raw is None else str(raw)


def unknown_key(key: str, where: str, what: str, known: set[str] | Any) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"{what} in {where} uses the key {key!r}, which is not a compose key chaos-harness "
        f"knows{hint}; fix or remove it"
    )


def as_list(raw: object, where: str, what: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TopologyError(f"{what} in {where} must be a list, got {type(raw).__name__}")
    return raw


def as_flag(raw: object, where: str, what: str) -> bool:
    if not isinstance(raw, bool):
        raise TopologyError(f"{what} in {where} must be true or false, got {raw!r}")
    return raw


def as_mapping(raw: object, where: str, what: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise TopologyError(f"{what} in {where} must be a mapping, got {type(raw).__name__}")
    return raw

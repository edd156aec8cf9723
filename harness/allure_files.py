"""Allure results files the harness writes itself, and reads back to merge shards.

allure-pytest writes each test's result; a run's own files are written here: the
``environment.properties`` (Java .properties, as Allure reads it) and Allure 3 globals: a
``<uuid>-globals.json`` naming report-level attachments (``<uuid>-attachment.EXT`` files
beside it) and errors, which the report shows on its front page (Global attachments,
Global errors). Nothing here needs pytest or allure-pytest, so :mod:`harness.merge` runs
where only the package is installed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "COVERAGE_NAME",
    "INVARIANT_LABEL",
    "RECORD_NAME",
    "SUMMARY_NAME",
    "format_properties",
    "parse_properties",
    "write_globals",
]

# The names of the run's report-level attachments; a merge finds the record by its name.
SUMMARY_NAME = "chaos-harness: invariant summary"
COVERAGE_NAME = "chaos-harness: exploration coverage"
RECORD_NAME = "chaos-harness: run record (JSON)"
INVARIANT_LABEL = "invariant"  # the label failures are grouped by (Allure categories)


def format_properties(properties: Mapping[str, str]) -> str:
    """Java .properties text (what Allure reads): one ``key = value`` a line, escaped."""

    def escape(text: str, *, key: bool) -> str:
        out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        out = out.replace("\t", "\\t")
        if key:
            for char in " =:#!":
                out = out.replace(char, "\\" + char)
        elif out.startswith(" "):
            out = "\\" + out
        return out

    return "".join(
        f"{escape(key, key=True)} = {escape(value, key=False)}\n"
        for key, value in properties.items()
    )


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def parse_properties(text: str) -> dict[str, str]:
    """What :func:`format_properties` wrote, read back (enough of the format for that)."""
    found = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "!")):
            continue
        match = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:]\s?(.*)", line)
        if match:
            key, value = (
                re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), part)
                for part in match.groups()
            )
            found[key] = value
    return found


def write_globals(
    directory: Path, attachments: Iterable[tuple[str, str, str, str]], errors: Iterable[str]
) -> Path:
    """``<uuid>-globals.json`` and its ``<uuid>-attachment.EXT`` files in ``directory``:
    ``attachments`` are (name, text, MIME type, extension); ``errors`` are messages."""
    now = int(time.time() * 1000)
    entries = []
    for name, text, mime, extension in attachments:
        source = f"{uuid.uuid4()}-attachment.{extension}"
        (directory / source).write_text(text, "utf-8")
        entries.append({"name": name, "source": source, "type": mime, "timestamp": now})
    path = directory / f"{uuid.uuid4()}-globals.json"
    body = {
        "attachments": entries,
        "errors": [{"message": message, "timestamp": now} for message in errors],
    }
    path.write_text(json.dumps(body, indent=2), "utf-8")
    return path

"""scripts/ensure-tool and bench/tools.py: a missing tool is one line and an exit status.

Where apt cannot be used (not root), the one-line path is taken; the test stands in for
``id`` (a script answering uid 1000) so that it takes that path on a root machine too,
without installing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENSURE_TOOL = ROOT / "scripts" / "ensure-tool"


@pytest.fixture
def not_root(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``id -u`` says 1000: ensure-tool must not use apt."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "id").chmod(0o755)
    return {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}


def test_a_present_tool_is_found_silently() -> None:
    done = subprocess.run(
        [ENSURE_TOOL, "sh"], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_missing_tool_is_one_line_naming_its_package(not_root: dict[str, str]) -> None:
    done = subprocess.run(
        [ENSURE_TOOL, "chaos-no-such-tool", "chaos-no-such-package"],
        capture_output=True,
        text=True,
        timeout=30,
        env=not_root,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "chaos-no-such-tool" in lines[0]
    assert "apt-get install chaos-no-such-package" in lines[0]


def test_usage_errors_say_how_to_call_it() -> None:
    done = subprocess.run([ENSURE_TOOL], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: scripts/ensure-tool COMMAND")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("require_tool('chaos-no-such-tool', 'chaos-no-such-package')", "apt-get install"),
        ("require_tool('chaos-no-such-tool', hint='it from its site')", "install it from its"),
        ("require_modules('chaos_no_such_module')", "pip install -e '.[dev]'"),
    ],
)
def test_a_bench_stops_with_one_line_and_exit_2(
    not_root: dict[str, str], call: str, expected: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"from bench import tools; tools.{call}; print('went on')"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=not_root,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "chaos-no-such" in lines[0].replace("_", "-")
    assert expected in lines[0]

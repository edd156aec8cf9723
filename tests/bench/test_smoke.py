"""Every bench runs to its end in its smoke mode, so that none rots unnoticed.

Each bench is started as the README names it, as a subprocess, with ``--smoke``: tiny
counts, but real containers and processes, and its table printed. The test asserts only
that it ended with exit status 0 and printed its table header; the figures are printed
(see them with ``-s``) and never asserted, since they depend on the machine.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
# A smoke run takes seconds; the first one on a fresh machine also builds the reference
# system (the race-detector builds take minutes on 2 cores).
TIMEOUT_S = 900

# Every bench: how the README starts it, and words of the header of each table it prints.
SMOKES: dict[str, tuple[list[str], list[str]]] = {
    "__main__": (["-m", "bench"], ["environment up", "offered/s"]),
    "environment": (["-m", "bench.environment"], ["environment up (ready, proxies created)"]),
    "load": (["bench/load.py"], ["client", "offered/s", "lag p99 ms", "client CPU"]),
    "faults": (["bench/faults.py"], ["fault", "first seen (sent)", "healthy after"]),
    "exploration": (["-m", "bench.exploration"], ["build", "examples", "per min"]),
}


def _benches() -> set[str]:
    """The modules in bench/ that run as a program (a ``__main__`` guard or __main__.py)."""
    found = set()
    for path in BENCH.glob("*.py"):
        if path.stem == "__main__":
            found.add(path.stem)
            continue
        for node in ast.parse(path.read_text()).body:
            test = node.test if isinstance(node, ast.If) else None
            if isinstance(test, ast.Compare) and ast.unparse(test) == "__name__ == '__main__'":
                found.add(path.stem)
    return found


def test_every_bench_has_a_smoke_run() -> None:
    benches = _benches()
    assert benches == set(SMOKES), (
        f"bench/ has {sorted(benches)}; SMOKES here runs {sorted(SMOKES)}: give a new bench a "
        "--smoke mode and an entry in SMOKES"
    )


@pytest.mark.parametrize("bench", sorted(SMOKES))
def test_bench_runs_in_smoke_mode(bench: str) -> None:
    arguments, header_words = SMOKES[bench]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *arguments, "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    command = " ".join(["python", *arguments, "--smoke"])
    print(f"{command}: exit {done.returncode} after {time.monotonic() - started:.1f} s")
    print(done.stdout)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{tail}"
    lines = done.stdout.splitlines()
    for words in header_words:
        assert any(words in line for line in lines), f"{command} printed no {words!r}:\n{tail}"

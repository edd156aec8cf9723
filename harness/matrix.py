"""The detection matrix: runs the suites on the correct build and with each seeded bug.

    python -m harness.matrix [--compose FILE] [--bugs a,b] [SUITES...] [-- PYTEST-ARGS]

Prints one row per build (the correct one first, then each bug the compose file's
``x-chaos.bugs`` lists) and one column per suite module; a cell says whether the module
``caught`` the bug (a test failed), ``passed`` or had an ``error``. A bug counts as caught
when a test aimed at it (``@pytest.mark.pitfall("<bug>")``) failed; any failure on the
correct build is a false alarm. The last line reads ``N/M bugs caught, K false alarms``.
Exit status 0 only when every bug was caught and nothing raised a false alarm.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ChaosError
from harness.topology import load_topology

__all__ = ["CaseResult", "RunResult", "main", "parse_junit"]

CORRECT = "correct build"


@dataclass(frozen=True)
class CaseResult:
    module: str
    name: str
    outcome: str  # passed, failed, error, skipped
    pitfall: str | None


@dataclass
class RunResult:
    build: str
    seconds: float
    tests: list[CaseResult] = field(default_factory=list)

    def cell(self, module: str) -> str:
        outcomes = {t.outcome for t in self.tests if t.module == module}
        if "failed" in outcomes:
            return "caught" if self.build != CORRECT else "FALSE ALARM"
        if "error" in outcomes:
            return "error"
        if outcomes == {"skipped"}:
            return "skipped"
        return "passed" if outcomes else "-"

    def caught(self) -> bool:
        return any(t.outcome == "failed" and t.pitfall == self.build for t in self.tests)


def parse_junit(path: Path) -> list[CaseResult]:
    """Test results from pytest's JUnit XML, with the pitfall property the plugin records."""
    results: list[CaseResult] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                break
        pitfall = None
        for prop in case.iter("property"):
            if prop.get("name") == "pitfall":
                pitfall = prop.get("value")
        results.append(CaseResult(module, case.get("name", ""), outcome, pitfall))
    return results


def run_build(build: str, suites: Sequence[str], extra: Sequence[str], folder: Path) -> RunResult:
    junit = folder / f"{build.replace(' ', '-')}.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *suites,
        "-q",
        "-p",
        "no:randomly",
        f"--junitxml={junit}",
        *extra,
    ]
    if build != CORRECT:
        command.append(f"--chaos-bugs={build}")
    started = time.monotonic()
    with (folder / f"{build.replace(' ', '-')}.log").open("w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    result = RunResult(build, time.monotonic() - started)
    if junit.is_file():
        result.tests = parse_junit(junit)
    return result


def render(results: Sequence[RunResult]) -> str:
    modules = sorted({t.module for r in results for t in r.tests})
    width = max([len(CORRECT), *(len(r.build) for r in results)])
    short = [m.removeprefix("test_") for m in modules]
    cells = [max(len(s), len("FALSE ALARM")) for s in short]
    lines = [
        f"{'':<{width}}  "
        + "  ".join(f"{s:<{c}}" for s, c in zip(short, cells, strict=True))
        + "  aimed test failed"
    ]
    for result in results:
        row = "  ".join(f"{result.cell(m):<{c}}" for m, c in zip(modules, cells, strict=True))
        aimed = "" if result.build == CORRECT else ("yes" if result.caught() else "NO")
        lines.append(f"{result.build:<{width}}  {row}  {aimed}")
    bugs = [r for r in results if r.build != CORRECT]
    false_alarms = sum(
        1
        for r in results
        if r.build == CORRECT
        for t in r.tests
        if t.outcome in ("failed", "error")
    )
    lines.append(
        f"{sum(r.caught() for r in bugs)}/{len(bugs)} bugs caught, {false_alarms} false alarms"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args:
        extra = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    parser = argparse.ArgumentParser(prog="python -m harness.matrix", description=__doc__)
    parser.add_argument("--compose", default="compose/docker-compose.yml")
    parser.add_argument("--bugs", default="", help="comma-separated subset of the bugs")
    parser.add_argument("--keep", metavar="DIR", help="keep JUnit XML and logs in DIR")
    parser.add_argument("suites", nargs="*", default=["suites"])
    options = parser.parse_args(args)
    try:
        declared = load_topology(options.compose).bugs
    except ChaosError as exc:  # e.g. run outside the repository: say so, no traceback
        parser.error(f"--compose {options.compose}: {exc}")
    known = declared.names if declared is not None else ()
    bugs = [b for b in options.bugs.split(",") if b] or list(known)
    unknown = sorted(set(bugs) - set(known))
    if unknown:
        parser.error(f"unknown bug(s) {', '.join(unknown)}; the known ones: {', '.join(known)}")
    extra = [f"--chaos-compose={options.compose}", *extra]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(options.keep) if options.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results: list[RunResult] = []
        for build in [CORRECT, *bugs]:
            result = run_build(build, options.suites, extra, folder)
            results.append(result)
            print(f"{build}: {len(result.tests)} tests in {result.seconds:.0f} s", file=sys.stderr)
        table = render(results)
    print(table)
    last = table.splitlines()[-1]
    return (
        0
        if last.startswith(f"{len(bugs)}/{len(bugs)} ") and last.endswith(" 0 false alarms")
        else 1
    )


if __name__ == "__main__":
    raise SystemExit(main())

"""What a bench needs from the machine, checked before the bench starts anything.

A missing tool is installed the way ``scripts/setup`` installs Docker (``scripts/ensure-tool``
and ``scripts/ensure-docker``: apt, as root on Debian); when that cannot be done the bench
stops at once with one line saying what to install and exit status 2, instead of a
traceback halfway through a run. A failure the harness itself reports (a ChaosError: a
build that failed, a service that never got ready) ends the bench with its message too.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from harness.errors import ChaosError

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
MISSING = 2  # exit status of a bench that stopped for a missing tool
GO_HINT = "the Go toolchain that compose/go.mod names (https://go.dev/dl)"


def _name() -> str:
    """The bench as it was started: bench.load for -m bench.load and bench/load.py alike."""
    script = Path(sys.argv[0])
    if script.parent.name != "bench":
        return script.stem
    return "bench" if script.stem == "__main__" else f"bench.{script.stem}"


def _stop(line: str) -> NoReturn:
    print(f"{_name()}: {line}", file=sys.stderr, flush=True)
    raise SystemExit(MISSING)


def require_tool(command: str, package: str | None = None, *, hint: str = "") -> str:
    """The path of ``command``; installs Debian's ``package`` when it is missing.

    Without a package (no Debian package fits, as for Go) it only checks, and ``hint``
    says what to install.
    """
    found = shutil.which(command)
    if found:
        return found
    if package is None:
        _stop(f"'{command}' is missing; install {hint or command}")
    # ensure-tool prints its own line (installing / what to install) on stderr.
    subprocess.run([str(SCRIPTS / "ensure-tool"), command, str(package)], check=False)
    found = shutil.which(command)
    if not found:
        raise SystemExit(MISSING)
    return found


def require_docker() -> None:
    """A Docker engine that answers: scripts/ensure-docker starts (or installs) one."""
    done = subprocess.run([str(SCRIPTS / "ensure-docker")], check=False)
    if done.returncode != 0:
        raise SystemExit(MISSING)  # ensure-docker said why


def require_modules(*names: str) -> None:
    """Python packages of the dev extra (e.g. aiohttp) that this bench imports."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        _stop(
            f"Python package(s) {', '.join(missing)} missing; install the dev extra: "
            ".venv/bin/pip install -e '.[dev]'"
        )


def reference_build() -> None:
    """What building the reference system (compose/build.sh) and the harness's own
    Toxiproxy build (harness/proxies.py: Go, and patch for its fixes) call."""
    require_tool("go", hint=GO_HINT)
    require_tool("patch", "patch")


def run(main: Callable[[], int | None]) -> int:
    """Run a bench's main: a ChaosError ends it with its message (exit 1), not a traceback."""
    try:
        return main() or 0
    except ChaosError as exc:
        print(f"{_name()}: {exc}", file=sys.stderr, flush=True)
        return 1

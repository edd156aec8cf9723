"""The package as users install it: a wheel built from this checkout, installed into a
fresh virtual environment outside the repository, running an example's chaos tests from a
folder outside the repository (no editable install, no PYTHONPATH, no conftest of ours).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/docker-compose.yml"))
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 1200


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    # Nothing of this checkout may leak in: no PYTHONPATH, no active virtual environment.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    done = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        cwd=dist,
        timeout=INSTALL_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = dist.glob("chaos_harness-*.whl")
    return built


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    folder = tmp_path_factory.mktemp("venv")
    assert not folder.is_relative_to(ROOT)
    done = _run([sys.executable, "-m", "venv", str(folder)], cwd=folder, timeout=120)
    assert done.returncode == 0, done.stderr
    done = _run(
        [str(folder / "bin" / "pip"), "install", "-q", str(wheel)],
        cwd=folder,
        timeout=INSTALL_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def test_the_wheel_holds_every_module_the_go_sources_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("harness", "faults"):
        sources = {
            str(path.relative_to(ROOT))
            for path in (ROOT / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        missing = sorted(sources - names)
        assert missing == [], f"in {package}/ but not in the wheel: {missing}"
    assert {"harness/py.typed", "faults/py.typed"} <= names


def test_the_installed_plugin_is_the_wheels_not_this_checkout(venv: Path, tmp_path: Path) -> None:
    code = "import harness, faults, harness.plugin; print(harness.__file__, faults.__file__)"
    done = _run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    for path in done.stdout.split():
        assert Path(path).is_relative_to(venv), path
    shown = _run([str(venv / "bin" / "pytest"), "--help"], cwd=tmp_path, timeout=60)
    assert "--chaos-compose" in shown.stdout


@pytest.mark.parametrize("example", EXAMPLES)
def test_an_example_runs_from_the_installed_wheel_outside_the_repository(
    venv: Path, tmp_path: Path, example: str
) -> None:
    folder = tmp_path / example
    shutil.copytree(
        ROOT / "examples" / example, folder, ignore=shutil.ignore_patterns("bin", ".chaos")
    )
    started = time.monotonic()
    done = _run(
        [str(venv / "bin" / "pytest"), "-p", "no:cacheprovider", "-v"],
        cwd=folder,
        timeout=RUN_TIMEOUT_S,
    )
    took = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "chaos-harness summary" in output, output
    print(f"{example}: its chaos tests ran from the installed wheel in {took:.0f} s")

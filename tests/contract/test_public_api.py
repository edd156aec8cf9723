"""The public API: every name a package exports resolves, and the packages carry py.typed."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = ("harness", "harness.checks", "harness.explore", "faults", "faults.strategies")


@pytest.mark.parametrize("package", PUBLIC)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported, f"{package} has no __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("package", ["harness", "faults"])
def test_typed_packages_say_so(package: str) -> None:
    assert (ROOT / package / "py.typed").is_file()

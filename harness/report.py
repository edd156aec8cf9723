"""Allure output: a step for each fault window, attachments, labels.

Everything goes through ``allure_commons``' hooks, which do nothing unless allure-pytest is
recording (``--alluredir``), so a run without Allure pays nothing for it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import allure
import pytest
from allure_commons import plugin_manager
from allure_commons.types import AttachmentType

if TYPE_CHECKING:
    from faults.base import Fault

__all__ = ["FaultSteps", "attach_json", "attach_text", "label_faults", "label_test"]


class FaultSteps:
    """Opens an Allure step when a fault goes on and closes it when the fault is healed."""

    def __init__(self) -> None:
        self._open: dict[int, str] = {}

    def __call__(self, fault: Fault, active: bool) -> None:
        key = id(fault)
        if active and key not in self._open:
            step = uuid.uuid4().hex
            self._open[key] = step
            params = {k: v for k, v in fault.to_json().items() if k != "kind"}
            plugin_manager.hook.start_step(
                uuid=step, title=f"fault: {fault.describe()}", params=params
            )
            attach_json(f"fault {fault.kind}", fault.to_json())
        elif not active and key in self._open:
            plugin_manager.hook.stop_step(
                uuid=self._open.pop(key), exc_type=None, exc_val=None, exc_tb=None
            )

    def close_all(self) -> None:
        for step in reversed(list(self._open.values())):
            plugin_manager.hook.stop_step(uuid=step, exc_type=None, exc_val=None, exc_tb=None)
        self._open.clear()


def label_test(item: pytest.Item) -> None:
    """Epic: the suite module (one per invariant family); story: the pitfall it aims at."""
    module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""  # type: ignore[attr-defined]
    if module.startswith("test_"):
        allure.dynamic.epic(module.removeprefix("test_").replace("_", " "))
    marker = item.get_closest_marker("pitfall")
    if marker is not None and marker.args:
        allure.dynamic.story(str(marker.args[0]))
        allure.dynamic.tag(str(marker.args[0]))


def label_faults(faults: Iterable[Fault]) -> None:
    """Feature: every kind of fault the test applied."""
    for kind in sorted({fault.kind for fault in faults}):
        allure.dynamic.feature(kind)


def attach_text(name: str, text: str) -> None:
    allure.attach(text, name=name, attachment_type=AttachmentType.TEXT)


def attach_json(name: str, value: Any) -> None:
    allure.attach(
        json.dumps(value, indent=2, sort_keys=True, default=str),
        name=name,
        attachment_type=AttachmentType.JSON,
    )

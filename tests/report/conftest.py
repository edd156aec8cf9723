"""The end-to-end report test runs the harness the way the plugin tests do: same fixtures."""

from __future__ import annotations

from tests.plugin.conftest import harness, image_context

__all__ = ["harness", "image_context"]

"""Shared configuration of the harness's own tests: ``pytester`` for the end-to-end tests."""

from __future__ import annotations

pytest_plugins = ["pytester"]

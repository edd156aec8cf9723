"""The running system of the current chaos test, for code that is not handed it.

``with Latency("front->back", ms=500):`` and ``verdict.require()`` find their environment
here; the ``chaos`` fixture sets it for the test's duration. A context variable, not a
module global: two threads or tasks each see their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = ["current_environment", "using_environment"]

_current: ContextVar[Environment | None] = ContextVar("chaos_environment", default=None)


def current_environment() -> Environment | None:
    """The environment of the running chaos test, or None outside one."""
    return _current.get()


@contextmanager
def using_environment(env: Environment) -> Iterator[Environment]:
    token = _current.set(env)
    try:
        yield env
    finally:
        _current.reset(token)

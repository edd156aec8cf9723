"""The Toxiproxy client gives up on a server that accepts a request and never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

import harness.toxiproxy
from harness.errors import FaultError
from harness.toxiproxy import ToxiproxyServer


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_stuck_api_call_fails_with_a_fault_error(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.toxiproxy, "API_TIMEOUT_S", 0.3)
    raised: list[BaseException] = []

    def reset() -> None:
        try:
            ToxiproxyServer("127.0.0.1", silent_server).reset()
        except BaseException as exc:  # handed to the test's thread
            raised.append(exc)

    caller = threading.Thread(target=reset, daemon=True)
    caller.start()
    caller.join(timeout=30)  # without a timeout of its own the call would never return
    assert not caller.is_alive(), "the API call to a silent Toxiproxy never returned"
    [error] = raised
    assert isinstance(error, FaultError), error
    assert "did not answer" in str(error)
    assert "timed out" in str(error)

"""Session identity: the labels every resource carries, and whether their owner still lives.

A resource's owner is recorded as host, PID and the process's start time, so a PID that the
kernel has since reused for another process is not mistaken for the run that made it.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

__all__ = [
    "OWNER_LABEL",
    "SESSION_LABEL",
    "new_session_id",
    "owner_alive",
    "owner_token",
    "session_labels",
]

SESSION_LABEL = "chaos-harness.session"
OWNER_LABEL = "chaos-harness.owner"


def new_session_id() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    suffix = f"-{worker}" if worker else ""
    return f"chaos-{secrets.token_hex(4)}{suffix}"


def _process_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counts from after the command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_process_start_time(pid) or '?'}"


def owner_alive(token: str) -> bool:
    """True unless the owner is certainly gone; an owner on another host is presumed alive."""
    host, _, rest = token.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    now = _process_start_time(int(pid_text))
    return now is not None and (started in ("?", now))


def session_labels(session: str) -> dict[str, str]:
    return {SESSION_LABEL: session, OWNER_LABEL: owner_token()}

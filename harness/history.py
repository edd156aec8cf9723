"""A Jepsen-shaped history of what the clients saw.

Every operation a client attempts is recorded as an ``invoke`` and, later, exactly one
completion: ``ok`` (it happened), ``fail`` (it definitely did not happen) or ``info`` (the
client cannot know: a timeout or a reset after the request was sent). Checkers read the
history; it round-trips through JSONL so a failing run can be attached and re-checked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from harness.errors import ConfigError, HistoryError

# Values are whatever the client recorded; they only have to survive json.dumps.
JsonValue = Any

INVOKE: Final = "invoke"
OK: Final = "ok"
FAIL: Final = "fail"
INFO: Final = "info"
COMPLETION_TYPES: Final = frozenset({OK, FAIL, INFO})
OP_TYPES: Final = frozenset({INVOKE}) | COMPLETION_TYPES


_FIELDS: Final = ("index", "type", "process", "f", "value", "time", "error")


@dataclass(frozen=True)
class Op:
    """One event: an invocation or its completion.

    ``index`` is the position in the history the op was recorded in; ``time`` is seconds
    since that history started, on the monotonic clock.
    """

    index: int
    type: str
    process: int
    f: str
    value: JsonValue
    time: float
    error: str | None = None

    def to_dict(self) -> dict[str, JsonValue]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, JsonValue]) -> Op:
        missing = [name for name in _FIELDS if name not in data and name != "error"]
        if missing:
            raise HistoryError(f"op {data!r} lacks field(s) {', '.join(missing)}")
        # bool is an int subclass; a true/false index or process is a corrupt file.
        for name in ("index", "process"):
            if not isinstance(data[name], int) or isinstance(data[name], bool):
                raise HistoryError(f"op field {name!r} must be an integer, got {data[name]!r}")
        if not isinstance(data["time"], int | float) or isinstance(data["time"], bool):
            raise HistoryError(f"op field 'time' must be a number, got {data['time']!r}")
        for name in ("type", "f"):
            if not isinstance(data[name], str):
                raise HistoryError(f"op field {name!r} must be a string, got {data[name]!r}")
        error = data.get("error")
        if error is not None and not isinstance(error, str):
            raise HistoryError(f"op field 'error' must be a string or null, got {error!r}")
        return cls(
            index=data["index"],
            type=data["type"],
            process=data["process"],
            f=data["f"],
            value=data["value"],
            time=float(data["time"]),
            error=error,
        )


Pair = tuple[Op, Op | None]


def request_label(invoke: Op, completion: Op | None = None) -> str:
    """How a message names a request so a user can find it in the history and the logs.

    ``request 17 (GET /products/1, sent at 2.310 s, X-Request-ID abc)``: the number the
    client gave it (``Op.process``; the load generator numbers its requests so), what it
    asked, when it was sent in seconds since the history began, and its X-Request-ID when
    the request carried one or the reply echoed one.
    """
    request_id = _header(invoke, "X-Request-ID") or (
        _header(completion, "X-Request-ID") if completion is not None else None
    )
    traced = f", X-Request-ID {request_id}" if request_id else ""
    return f"request {invoke.process} ({invoke.f}, sent at {invoke.time:.3f} s{traced})"


def _header(op: Op, name: str) -> str | None:
    headers = op.value.get("headers") if isinstance(op.value, dict) else None
    if not isinstance(headers, dict):
        return None
    wanted = name.lower()
    found = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    return str(found) if found is not None else None


class History:
    """An append-only, thread-safe sequence of ops.

    Many client threads or tasks record into one history; the lock makes the index and
    the timestamp of each op agree with the order ops were appended in.
    """

    def __init__(self, ops: Iterable[Op] = ()) -> None:
        self._lock = threading.Lock()
        self._ops: list[Op] = list(ops)
        # A loaded history continues its own clock rather than restarting at zero.
        last_time = self._ops[-1].time if self._ops else 0.0
        self._started = time.monotonic() - last_time

    # -- recording -------------------------------------------------------------------

    @property
    def started(self) -> float:
        """The ``time.monotonic()`` reading that op times count from."""
        return self._started

    def now(self) -> float:
        """Seconds since this history started (the clock every op is stamped with)."""
        return time.monotonic() - self._started

    def invoke(self, process: int, f: str, value: JsonValue = None) -> Op:
        """Record that ``process`` starts operation ``f`` and return the invoke op."""
        return self._append(INVOKE, process, f, value, None)

    def complete(
        self,
        invoke_op: Op,
        type: str,
        value: JsonValue = None,
        error: str | None = None,
    ) -> Op:
        """Record the completion of ``invoke_op`` as ``ok``, ``fail`` or ``info``."""
        if invoke_op.type != INVOKE:
            raise ConfigError(f"can only complete an invoke op, got a {invoke_op.type!r} op")
        if type not in COMPLETION_TYPES:
            raise ConfigError(f"completion type must be one of ok/fail/info, got {type!r}")
        return self._append(type, invoke_op.process, invoke_op.f, value, error)

    def append(self, op: Op) -> None:
        """Add an already-built op as is (for importing or tests); ``validate`` checks it."""
        with self._lock:
            self._ops.append(op)

    def _append(self, type: str, process: int, f: str, value: JsonValue, error: str | None) -> Op:
        with self._lock:
            op = Op(len(self._ops), type, process, f, value, self.now(), error)
            self._ops.append(op)
        return op

    # -- reading ---------------------------------------------------------------------

    def ops(self) -> list[Op]:
        """A snapshot of every op recorded so far, in order."""
        with self._lock:
            return list(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops())

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def __getitem__(self, position: int) -> Op:
        with self._lock:
            return self._ops[position]

    def __repr__(self) -> str:
        counts = ", ".join(f"{kind}={len(ops)}" for kind, ops in sorted(self.by_type().items()))
        return f"History({counts})"

    def pairs(self) -> Iterator[Pair]:
        """Each invoke with its completion (None while open), in invoke order.

        Completions without an invoke are skipped here; ``validate`` reports them.
        """
        slots: list[list[Op | None]] = []
        open_slot: dict[int, list[Op | None]] = {}
        for op in self.ops():
            if op.type == INVOKE:
                slot: list[Op | None] = [op, None]
                slots.append(slot)
                open_slot[op.process] = slot
            elif op.process in open_slot:
                open_slot.pop(op.process)[1] = op
        for invoke_op, completion in slots:
            assert invoke_op is not None
            yield invoke_op, completion

    def completed(self, *types: str) -> list[tuple[Op, Op]]:
        """(invoke, completion) pairs that completed, optionally only of the given types."""
        wanted = frozenset(types) or COMPLETION_TYPES
        return [
            (invoke_op, completion)
            for invoke_op, completion in self.pairs()
            if completion is not None and completion.type in wanted
        ]

    def open(self) -> list[Op]:
        """Invokes that never completed (the client crashed or the run was cut short)."""
        return [invoke_op for invoke_op, completion in self.pairs() if completion is None]

    def by_type(self) -> dict[str, list[Op]]:
        """Ops grouped by type; ``len(h.by_type()["ok"])`` is the number of successes."""
        grouped: dict[str, list[Op]] = {}
        for op in self.ops():
            grouped.setdefault(op.type, []).append(op)
        return grouped

    def latencies(self, *types: str) -> list[float]:
        """Seconds from invoke to completion for completed pairs (of ``types`` if given)."""
        return [
            completion.time - invoke_op.time for invoke_op, completion in self.completed(*types)
        ]

    def between(self, t0: float, t1: float) -> History:
        """A history of the operations invoked in ``[t0, t1)``, with their completions.

        Filtering by invoke time keeps every pair whole, so the result still validates;
        ops keep their original ``index`` so evidence points back at the full history.
        """
        if t1 < t0:
            raise ConfigError(f"time window ends ({t1}) before it starts ({t0})")
        kept: list[Op] = []
        for invoke_op, completion in self.pairs():
            if t0 <= invoke_op.time < t1:
                kept.append(invoke_op)
                if completion is not None:
                    kept.append(completion)
        kept.sort(key=lambda op: op.index)
        return History(kept)

    # -- checking --------------------------------------------------------------------

    def validate(self) -> None:
        """Raise HistoryError if the history is not well formed.

        Well formed: every type is known; a process has at most one open invoke; every
        completion follows an open invoke of the same process and operation.
        """
        open_invoke: dict[int, Op] = {}
        for op in self.ops():
            if op.type == INVOKE:
                if op.process in open_invoke:
                    earlier = open_invoke[op.process]
                    raise HistoryError(
                        f"process {op.process} invoked op {op.index} ({op.f}) while op "
                        f"{earlier.index} ({earlier.f}) was still open; a process is one "
                        "client doing one thing at a time, so give concurrent requests "
                        "their own process numbers"
                    )
                open_invoke[op.process] = op
            elif op.type in COMPLETION_TYPES:
                started = open_invoke.pop(op.process, None)
                if started is None:
                    raise HistoryError(
                        f"op {op.index} completes ({op.type}) process {op.process}, "
                        "which has no open invoke; record each completion with "
                        "History.complete(invoke_op, ...) exactly once"
                    )
                if started.f != op.f:
                    raise HistoryError(
                        f"op {op.index} completes {op.f!r} but process {op.process} "
                        f"invoked {started.f!r} (op {started.index}); the history was "
                        "edited or merged by hand"
                    )
            else:
                raise HistoryError(
                    f"op {op.index} has type {op.type!r}; expected invoke, ok, fail or info"
                )

    # -- persistence -----------------------------------------------------------------

    def to_jsonl(self, path: str | Path) -> None:
        """Write one JSON object per op; raises TypeError if a value is not JSON-able."""
        lines = [json.dumps(op.to_dict(), separators=(",", ":")) for op in self.ops()]
        Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    @classmethod
    def from_jsonl(cls, path: str | Path) -> History:
        """Read a history written by ``to_jsonl`` (blank lines are ignored)."""
        ops: list[Op] = []
        text = Path(path).read_text(encoding="utf-8")
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise HistoryError("expected a JSON object")
                ops.append(Op.from_dict(data))
            except (ValueError, HistoryError) as exc:
                raise HistoryError(
                    f"{path}:{line_number}: not a history op ({exc}); load only files "
                    "written by History.to_jsonl"
                ) from exc
        return cls(ops)

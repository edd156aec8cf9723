"""Standard signals read from outside a service: /metrics, goroutine dumps, logs.

Checks must work on any Go service, so everything here reads formats every such service
already speaks: the Prometheus text exposition, ``/debug/pprof/goroutine?debug=2`` and the
runtime's own ``panic:`` / ``fatal error:`` / race-detector reports in its logs. Metrics and
pprof are optional for a service; a fetch that finds the service answering without them
raises :class:`SignalMissingError`, which says how to add them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import ProbeError, SignalMissingError
from harness.load import require_loopback

# Where Go services conventionally serve their signals: promhttp's usual mount point and
# the prefix net/http/pprof registers its handlers under.
DEFAULT_METRICS_PATH: Final = "/metrics"
DEFAULT_PPROF_PATH: Final = "/debug/pprof"

METRICS_HOWTO: Final = (
    "serve a Prometheus registry with promhttp from "
    "github.com/prometheus/client_golang/prometheus/promhttp: "
    'http.Handle("/metrics", promhttp.Handler()), or with Gin '
    'router.GET("/metrics", gin.WrapH(promhttp.Handler()))'
)
PPROF_HOWTO: Final = (
    'mount net/http/pprof: import _ "net/http/pprof" (it registers on '
    "http.DefaultServeMux, which serves it if the service uses that mux); with Gin add also "
    'router.GET("/debug/pprof/*any", gin.WrapH(http.DefaultServeMux))'
)

# -- /metrics ---------------------------------------------------------------------------

Labels = tuple[tuple[str, str], ...]
"""A series' labels as sorted (name, value) pairs, so they can key a dict."""

Metrics = dict[str, dict[Labels, float]]
"""Sample name (``http_requests_total``, ``x_bucket``, ``x_sum``) -> labels -> value."""


def parse_metrics(text: str) -> Metrics:
    """Parse a Prometheus text exposition into samples by name and labels."""
    metrics: Metrics = {}
    try:
        for family in text_string_to_metric_families(text):
            for name, labels, value, *_ in family.samples:
                metrics.setdefault(name, {})[tuple(sorted(labels.items()))] = float(value)
    except (ValueError, TypeError, IndexError) as exc:
        # The parser reports malformed input with a bare ValueError or worse; name it.
        raise ProbeError(
            f"not a Prometheus text exposition ({exc}); check that the metrics path "
            "serves promhttp output"
        ) from exc
    return metrics


def sample(metrics: Metrics, name: str, labels: Mapping[str, str] | None = None) -> float | None:
    """The value of ``name`` summed over the series whose labels include ``labels``.

    Summing makes ``sample(m, "http_requests_total")`` the total over every code and
    ``sample(m, "http_requests_total", {"code": "500"})`` one slice of it. None when no
    series matches, so a missing metric can never read as zero.
    """
    series = metrics.get(name)
    if not series:
        return None
    wanted = set((labels or {}).items())
    values = [value for key, value in series.items() if wanted <= set(key)]
    return math.fsum(values) if values else None


# -- goroutine dumps --------------------------------------------------------------------

# "goroutine 18 [chan send, 3 minutes]:"; newer runtimes may print "gp=... m=..." before
# the bracket when GOTRACEBACK=system, so anything between id and bracket is allowed.
_GOROUTINE_HEADER: Final = re.compile(r"^goroutine (\d+)(?: [^\[]*)? ?\[([^\]]*)\]:\s*$")
_WAIT_MINUTES: Final = re.compile(r"(\d+) minutes?")
_CREATED_BY: Final = re.compile(r"^created by (.+?)(?: in goroutine \d+)?$")
# "\t/src/app/main.go:42 +0x65" and with GOTRACEBACK=system " fp=0x.. sp=0x.. pc=0x..".
_LOCATION: Final = re.compile(r"^\s+(.+?:\d+)(?:\s.*)?$")


@dataclass(frozen=True)
class Frame:
    """One stack frame: the function (without argument values) and its file:line."""

    function: str
    location: str


# What makes goroutines "the same": state, normalised frames, where they were started.
_Stack = tuple[str, tuple[Frame, ...], Frame | None]


@dataclass(frozen=True)
class GoroutineGroup:
    """Goroutines with the same state and normalised stack, and how many there are.

    After ``diff_goroutines`` ``count`` is how many more there are than before.
    """

    state: str
    frames: tuple[Frame, ...]
    created_by: Frame | None
    count: int
    longest_wait_minutes: int = field(default=0, compare=False)

    @property
    def key(self) -> _Stack:
        return self.state, self.frames, self.created_by


def _strip_arguments(function_line: str) -> str:
    # Argument values are the last parenthesised group; receiver types like
    # "net/http.(*conn).serve" keep theirs because only the final group is removed.
    line = function_line.strip()
    if line.endswith(")") and "(" in line:
        return line[: line.rindex("(")]
    return line


def _parse_goroutine(state_text: str, body: list[str]) -> tuple[_Stack, int]:
    state, *details = (part.strip() for part in state_text.split(","))
    waits = (_WAIT_MINUTES.fullmatch(detail) for detail in details)
    wait = max((int(m.group(1)) for m in waits if m), default=0)
    frames: list[Frame] = []
    created_by: Frame | None = None
    position = 0
    while position < len(body):
        line = body[position].strip()
        position += 1
        if not line or body[position - 1][0] in " \t":
            continue  # blank, or a location without a function line before it
        location = ""
        if position < len(body) and (located := _LOCATION.match(body[position])):
            location = located.group(1)
            position += 1
        if created := _CREATED_BY.match(line):
            created_by = Frame(created.group(1), location)
        else:
            frames.append(Frame(_strip_arguments(line), location))
    return (state, tuple(frames), created_by), wait


def parse_goroutines(dump_text: str) -> list[GoroutineGroup]:
    """Group the goroutines of a ``goroutine?debug=2`` dump by state and stack.

    IDs, wait durations, ``+0x..`` offsets and argument values are dropped, so the same
    leak in a hundred goroutines becomes one group with count 100. Largest groups first.
    """
    counts: Counter[_Stack] = Counter()
    waits: dict[_Stack, int] = {}
    header: re.Match[str] | None = None
    body: list[str] = []

    def finish() -> None:
        if header is None:
            return
        stack, wait = _parse_goroutine(header.group(2), body)
        counts[stack] += 1
        waits[stack] = max(waits.get(stack, 0), wait)

    for line in dump_text.splitlines():
        match = _GOROUTINE_HEADER.match(line)
        if match:
            finish()
            header, body = match, []
        elif header is not None:
            body.append(line)
    finish()
    if dump_text.strip() and not counts:
        raise ProbeError(
            "no 'goroutine N [state]:' header in the dump; fetch "
            "/debug/pprof/goroutine?debug=2 (debug=1 and the binary profile differ)"
        )
    return [
        GoroutineGroup(state, frames, created_by, count, waits[(state, frames, created_by)])
        for (state, frames, created_by), count in sorted(
            counts.items(), key=lambda item: (-item[1], item[0][0])
        )
    ]


def diff_goroutines(
    before: Iterable[GoroutineGroup], after: Iterable[GoroutineGroup]
) -> list[GoroutineGroup]:
    """Groups that have more goroutines ``after`` than ``before``; count is the growth."""
    earlier = {group.key: group.count for group in before}
    grown = [
        GoroutineGroup(
            group.state,
            group.frames,
            group.created_by,
            group.count - earlier.get(group.key, 0),
            group.longest_wait_minutes,
        )
        for group in after
        if group.count > earlier.get(group.key, 0)
    ]
    return sorted(grown, key=lambda group: -group.count)


def total_goroutines(groups: Iterable[GoroutineGroup]) -> int:
    return sum(group.count for group in groups)


def format_groups(
    groups: Iterable[GoroutineGroup], *, max_groups: int = 10, max_frames: int = 6
) -> str:
    """Render groups for a failure message: count, state, the frames that say where.

    Leading ``runtime.`` frames (gopark, chansend...) say only *how* a goroutine waits,
    which the state already says, so the frames shown start at the first other one.
    """
    groups = list(groups)
    blocks: list[str] = []
    for group in groups[:max_groups]:
        wait = f", {group.longest_wait_minutes}+ minutes" if group.longest_wait_minutes else ""
        noun = "goroutine" if group.count == 1 else "goroutines"
        lines = [f"{group.count} {noun} [{group.state}{wait}]"]
        frames = list(group.frames)
        skipped = 0
        while skipped < len(frames) - 1 and frames[skipped].function.startswith("runtime."):
            skipped += 1
        if skipped:
            lines.append(f"    ({skipped} runtime frame{'s' if skipped > 1 else ''} above)")
        shown = frames[skipped : skipped + max_frames]
        lines.extend(f"    {frame.function}\n        {frame.location}" for frame in shown)
        if len(frames) > skipped + max_frames:
            lines.append(f"    ... {len(frames) - skipped - max_frames} more frames")
        if group.created_by is not None:
            lines.append(
                f"    created by {group.created_by.function}\n        {group.created_by.location}"
            )
        blocks.append("\n".join(lines))
    if len(groups) > max_groups:
        rest = sum(group.count for group in groups[max_groups:])
        blocks.append(f"... and {len(groups) - max_groups} more groups ({rest} goroutines)")
    return "\n\n".join(blocks)


# -- goroutines that belong to a connection, not to work -------------------------------
#
# Some goroutines live exactly as long as a network connection and end when the peer
# closes it, which the service does not control: the server's goroutine of an idle
# keep-alive connection, the read and write loops of a pooled outgoing connection. They
# are no leak while they wait on their connection, whatever their number. The same
# connection goroutine is work in progress once it is anywhere else: a server connection
# whose stack is inside a handler (a ServeHTTP frame above ``(*conn).serve``) is a request
# still being handled, and one that never returns is exactly the leak a check must see.

IDLE_INCOMING: Final = "idle keep-alive connections"
REQUEST_READER: Final = "background readers of requests in progress"
OUTGOING_POOL: Final = "read/write loops of pooled outgoing connections"
DUMP_WRITER: Final = "goroutines writing the dump"

# Functions a goroutine runs while it only reads its connection: the runtime, the poller,
# net, bufio, TLS, and net/http's own request-line and header reading.
_READING: Final = (
    "runtime.",
    "internal/",
    "syscall.",
    "net.",
    "bufio.",
    "io.",
    "crypto/tls.",
    "net/textproto.",
    "net/http.(*connReader).",
    "net/http.(*conn).readRequest",
    "net/http.readRequest",
    "net/http.(*persistConn).Read",
)

# (the function that owns the goroutine, the state it waits in when idle, what may run
# above it then, what it is). Anything else above the owner means the connection is busy.
_IDLE_CONNECTIONS: Final = (
    ("net/http.(*conn).serve", "IO wait", _READING, IDLE_INCOMING),
    ("net/http.(*persistConn).readLoop", "IO wait", _READING, OUTGOING_POOL),
    # Waits in select for the next request to write; older runtimes show the select's
    # runtime frames above it, newer ones hide them.
    ("net/http.(*persistConn).writeLoop", "select", ("runtime.",), OUTGOING_POOL),
)


def idle_connection(group: GoroutineGroup) -> str | None:
    """Which kind of connection goroutine ``group`` is, if it is one that only waits on its
    connection (one of ``IDLE_INCOMING``, ``REQUEST_READER``, ``OUTGOING_POOL``,
    ``DUMP_WRITER``); None for every other goroutine, including a request in progress."""
    functions = [frame.function for frame in group.frames]
    if any(function.startswith("runtime/pprof.writeGoroutine") for function in functions):
        return DUMP_WRITER
    creator = group.created_by.function if group.created_by is not None else ""
    if creator.startswith("net/http.(*connReader).startBackgroundRead"):
        # Reads one byte to notice a client that went away; ends with its request.
        return REQUEST_READER
    for owner, state, allowed, kind in _IDLE_CONNECTIONS:
        if owner in functions and group.state == state:
            above = functions[: functions.index(owner)]
            if all(function.startswith(allowed) for function in above):
                return kind
    return None


def handling_request(group: GoroutineGroup) -> bool:
    """Whether ``group`` is a server connection's goroutine inside a request handler."""
    functions = [frame.function for frame in group.frames]
    if "net/http.(*conn).serve" not in functions:
        return False
    above = functions[: functions.index("net/http.(*conn).serve")]
    return any("ServeHTTP" in function for function in above)


# -- logs -------------------------------------------------------------------------------

# Only at the start of a line (optionally after a "service-1  | " compose prefix): the
# runtime writes these there, while a *recovered* panic logged by the service itself
# ("recovered panic: ...") sits mid-line and must not count.
_LOG_MARKERS: Final = re.compile(
    r"^(?:\S+\s+\|\s?)?(?P<marker>panic: |fatal error: |WARNING: DATA RACE)"
)
_KIND_BY_MARKER: Final = {
    "panic: ": "panic",
    "fatal error: ": "fatal error",
    "WARNING: DATA RACE": "data race",
}
_RACE_REPORT_END: Final = "=================="


@dataclass(frozen=True)
class LogFinding:
    """A runtime failure report found in a log: its kind, 1-based line, and the text."""

    kind: str
    line: int
    excerpt: str


def scan_logs(text: str, *, context: int = 12, max_race_lines: int = 60) -> list[LogFinding]:
    """Find ``panic:``, ``fatal error:`` and ``WARNING: DATA RACE`` reports.

    Each finding carries the line before it and the report that follows (``context``
    lines, or a race report up to its closing ``==================``).
    """
    lines = text.splitlines()
    findings: list[LogFinding] = []
    position = previous_end = 0
    while position < len(lines):
        match = _LOG_MARKERS.match(lines[position])
        if match is None:
            position += 1
            continue
        kind = _KIND_BY_MARKER[match.group("marker")]
        # A report runs until the next report starts or its length budget is spent; a
        # race report also ends at its closing rule. (A re-panic's second "panic:" is
        # indented by the runtime, so it stays inside the first report.)
        limit = min(len(lines), position + 1 + (max_race_lines if kind == "data race" else context))
        end = position + 1
        while end < limit and not _LOG_MARKERS.match(lines[end]):
            end += 1
            if kind == "data race" and lines[end - 1].endswith(_RACE_REPORT_END):
                break
        first = max(previous_end, position - 1)  # one line of lead-in, not reused
        findings.append(LogFinding(kind, position + 1, "\n".join(lines[first:end])))
        position = previous_end = end
    return findings


# -- fetching ---------------------------------------------------------------------------


def _get(url: str, timeout: float, what: str, howto: str) -> str:
    require_loopback(url)
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise ProbeError(
            f"could not read {what} from {url}: {exc}; is the service up and is its "
            "port published on 127.0.0.1?"
        ) from exc
    if response.status_code != 200:
        reason = f" {response.reason}" if response.reason else ""
        raise SignalMissingError(url, f"{response.status_code}{reason}", what, howto)
    return response.text


def fetch_metrics(
    base_url: str, path: str = DEFAULT_METRICS_PATH, *, timeout: float = 5.0
) -> Metrics:
    """GET and parse a service's Prometheus metrics (loopback only).

    Raises SignalMissingError when the service answers with anything but a Prometheus
    text exposition (a 404, an HTML page), ProbeError when it does not answer.
    """
    url = base_url.rstrip("/") + path
    what = "Prometheus metrics"
    text = _get(url, timeout, what, METRICS_HOWTO)
    try:
        return parse_metrics(text)
    except ProbeError as exc:
        answer = f"200 with something else ({exc})"
        raise SignalMissingError(url, answer, what, METRICS_HOWTO) from exc


def fetch_goroutine_dump(
    base_url: str, pprof_path: str = DEFAULT_PPROF_PATH, *, timeout: float = 5.0
) -> str:
    """GET the full goroutine dump (``goroutine?debug=2``) as text, e.g. to attach."""
    url = f"{base_url.rstrip('/')}{pprof_path.rstrip('/')}/goroutine?debug=2"
    return _get(url, timeout, "a goroutine dump", PPROF_HOWTO)


def fetch_goroutines(
    base_url: str, pprof_path: str = DEFAULT_PPROF_PATH, *, timeout: float = 5.0
) -> list[GoroutineGroup]:
    """GET the goroutine dump and group it by stack (loopback only).

    Raises SignalMissingError when what answered is not a goroutine dump (a 404, a page
    that is not a dump, an empty body: a running Go program has at least one goroutine).
    """
    url = f"{base_url.rstrip('/')}{pprof_path.rstrip('/')}/goroutine?debug=2"
    what = "a goroutine dump"
    text = _get(url, timeout, what, PPROF_HOWTO)
    try:
        groups = parse_goroutines(text)
    except ProbeError as exc:
        answer = f"200 with something else ({exc})"
        raise SignalMissingError(url, answer, what, PPROF_HOWTO) from exc
    if not groups:
        raise SignalMissingError(url, "200 with an empty body", what, PPROF_HOWTO)
    return groups

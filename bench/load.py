"""Benchmark: how well harness.load keeps an open-model schedule, and with which client.

Prints a table and asserts nothing. For offered rates of 500, 1000 and 2000 req/s it runs
``run_load`` (the harness's open-model scheduler) for SECONDS per row against one trivial
endpoint (the reference inventory service's /healthz, run as a host process on
127.0.0.1), once per client, rates interleaved:

- ``harness``: harness.load's keep-alive HTTP/1.1 client (httptools' llhttp parser; it
  replaced a hand-written parser once this bench showed it holds 2,000 req/s at the same
  CPU, while h11 and aiohttp need about 1.6 times that);
- ``h11``: a small client on that sans-I/O parser over asyncio;
- ``aiohttp``: aiohttp's ClientSession.

The two other clients live in bench/http_clients.py and are swapped in under the same
scheduler, so the client is the only difference. Each row reports the achieved rate, the
schedule lag (actual send time - planned send time) p50/p99/max and the client's CPU; a
client *holds* a rate when it sent every planned request, reached 98% of the offered rate
and kept lag p99 within 10 ms. With ``--rounds N`` the whole sweep runs N times and each
row is the round with the median lag p99, with how many rounds held. Then ``wrk`` finds
the endpoint's maximum rate in the same time, for scale.

    .venv/bin/python bench/load.py                          # from the repository root
    .venv/bin/python bench/load.py --rates 2000,3000,4000   # look for the ceiling
    .venv/bin/python bench/load.py --clients harness,h11 --rounds 3
    .venv/bin/python bench/load.py --smoke                  # 200 req/s for 1 s each: seconds

If the inventory binary cannot be built, a stdlib-only Go server (bench/trivial_server)
stands in. Needs Go and wrk (Debian's, installed with apt when missing and this is root;
otherwise it stops at once and says what to install). The server is stopped at the end
whatever happens. Loopback only; bounded.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/load.py is also run as a script

from bench import tools  # noqa: E402 - the repository root goes on the path first
from harness.build import build_lock, run_prebuild  # noqa: E402
from harness.errors import ChaosError  # noqa: E402
from harness.load import LoadResult, run_load  # noqa: E402
from harness.topology import load_topology  # noqa: E402

COMPOSE = ROOT / "compose"
INVENTORY = COMPOSE / "bin" / "inventory"
TRIVIAL_SOURCE = ROOT / "bench" / "trivial_server" / "main.go"
RATES = (500, 1000, 2000)
SECONDS = 5.0
SMOKE_RATES = (200,)
SMOKE_SECONDS = 1.0
CLIENTS = ("harness", "h11", "aiohttp")
LIBRARY_MODULES = {"h11": "h11", "aiohttp": "aiohttp"}
MAX_BENCH_RATE = 10_000  # the bench stays bounded whatever is typed
WRK_CONNECTIONS = 64
HOLD_ACHIEVED = 0.98  # of the offered rate
HOLD_LAG_P99_MS = 10.0


@dataclass(frozen=True)
class Row:
    client: str
    rate: int
    result: LoadResult
    cpu_percent: float

    @property
    def holds(self) -> bool:
        result = self.result
        return (
            result.sent == result.planned
            and result.achieved_rate >= HOLD_ACHIEVED * self.rate
            and result.lag_p99_ms <= HOLD_LAG_P99_MS
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_binary(workdir: Path) -> tuple[Path, str]:
    """The inventory binary if it builds (or is built), else the stand-in server."""
    topology = load_topology(COMPOSE / "docker-compose.yml")
    try:
        # The harness's own build step: skipped when nothing changed, one build at a time.
        with build_lock(topology):
            run_prebuild(topology)
    except ChaosError as exc:
        print(f"# the reference build failed ({str(exc).splitlines()[0]}); using what is built")
    if INVENTORY.is_file():
        return INVENTORY, "inventory /healthz"
    binary = workdir / "trivial_server"
    subprocess.run(
        ["go", "build", "-o", str(binary), TRIVIAL_SOURCE.name],
        cwd=TRIVIAL_SOURCE.parent,
        check=True,
        timeout=300,
    )
    return binary, "bench/trivial_server /healthz"


@contextmanager
def _serving(binary: Path, port: int, log_path: Path) -> Iterator[str]:
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORT": str(port),
        "LISTEN_HOST": "127.0.0.1",
        "GIN_MODE": "release",
        "DB_PATH": ":memory:",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(binary)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(base_url + "/healthz", process)
        yield base_url
    finally:
        # Stop only the process this script started, by its pid: TERM, then KILL.
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer 200 within 15 s")


def _using(client: str) -> AbstractContextManager[object]:
    """The scheduler with ``client`` swapped in (the harness's own client: nothing to do)."""
    if client == "harness":
        return nullcontext()
    from bench.http_clients import CLIENTS as CLASSES
    from bench.http_clients import scheduler_using

    return scheduler_using(CLASSES[client])


def _run(base_url: str, client: str, rate: int, seconds: float) -> Row:
    before = resource.getrusage(resource.RUSAGE_SELF)
    with _using(client):
        result = run_load(
            base_url,
            "GET /healthz",
            rate=rate,
            seconds=seconds,
            max_requests=int(rate * seconds),
            timeout=2.0,
        )
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Row(client, rate, result, 100 * cpu / max(result.elapsed_s, 1e-9))


def _wrk_max_rate(wrk: str, base_url: str, seconds: float) -> float | None:
    command = [wrk, "-t2", f"-c{WRK_CONNECTIONS}", f"-d{round(seconds)}s", base_url + "/healthz"]
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if finished.returncode != 0:
        print(f"# wrk exited {finished.returncode}: {finished.stdout} {finished.stderr}")
        return None
    match = re.search(r"Requests/sec:\s+([\d.]+)", finished.stdout)
    return float(match.group(1)) if match else None


def _rates(text: str) -> tuple[int, ...]:
    try:
        rates = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated integers") from None
    if not all(0 < rate <= MAX_BENCH_RATE for rate in rates):
        raise argparse.ArgumentTypeError(f"rates must be in 1..{MAX_BENCH_RATE}")
    return rates


def _clients(text: str) -> tuple[str, ...]:
    clients = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(clients) - set(CLIENTS))
    if unknown or not clients:
        raise argparse.ArgumentTypeError(
            f"unknown client(s) {', '.join(unknown) or '(none given)'}; use {','.join(CLIENTS)}"
        )
    return clients


def _print_row(row: Row, held: str, wrk_rate: float | None) -> None:
    result = row.result
    ratio = f"{wrk_rate / result.achieved_rate:.1f}x" if wrk_rate and result.achieved_rate else "-"
    print(
        f"{row.client:<9} {row.rate:>9} {result.sent:>6} {result.achieved_rate:>10.0f} "
        f"{result.outcomes.get('ok', 0):>6} {result.lag_p50_ms:>10.2f} "
        f"{result.lag_p99_ms:>10.2f} {result.lag_max_ms:>10.2f} {result.max_in_flight:>9} "
        f"{row.cpu_percent:>9.0f}% {ratio:>12} {held:>5}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=_rates, default=RATES, help="e.g. 500,1000,2000")
    parser.add_argument(
        "--clients", type=_clients, default=CLIENTS, help=f"some of {','.join(CLIENTS)}"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="sweeps; each row shows the median round"
    )
    parser.add_argument("--smoke", action="store_true", help="200 req/s for 1 s per client")
    args = parser.parse_args()
    rounds = 1 if args.smoke else max(1, min(args.rounds, 10))
    rates: tuple[int, ...] = SMOKE_RATES if args.smoke else args.rates
    seconds = SMOKE_SECONDS if args.smoke else SECONDS
    clients: tuple[str, ...] = args.clients

    tools.require_modules(*(LIBRARY_MODULES[c] for c in clients if c in LIBRARY_MODULES))
    tools.require_tool("go", hint=tools.GO_HINT)
    wrk = tools.require_tool("wrk", "wrk")

    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chaos-bench-") as workdir:
        binary, endpoint = _server_binary(Path(workdir))
        with _serving(binary, _free_port(), Path(workdir) / "server.log") as base_url:
            if not args.smoke:
                # Warm-up outside the table: first-use imports and the first connections.
                for client in clients:
                    _run(base_url, client, 200, 1.0)
            for number in range(rounds):
                # Each round starts with another client, so none always runs first.
                order = clients[number % len(clients) :] + clients[: number % len(clients)]
                for rate in rates:
                    for client in order:
                        rows.append(_run(base_url, client, rate, seconds))
            wrk_rate = _wrk_max_rate(wrk, base_url, seconds)

    # Other work on the machine moves these numbers a lot; say how busy it was.
    print(
        f"endpoint: {endpoint}; {seconds:.0f} s per row, {rounds} round(s); {os.cpu_count()} CPUs; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"holds: all sent, >= {HOLD_ACHIEVED:.0%} of offered, lag p99 <= {HOLD_LAG_P99_MS:.0f} ms"
    )
    header = (
        f"{'client':<9} {'offered/s':>9} {'sent':>6} {'achieved/s':>10} {'ok':>6} "
        f"{'lag p50 ms':>10} {'lag p99 ms':>10} {'lag max ms':>10} {'in flight':>9} "
        f"{'client CPU':>10} {'wrk/achieved':>12} {'held':>5}"
    )
    print(header)
    print("-" * len(header))
    held: dict[tuple[str, int], str] = {}
    for rate in rates:
        for client in clients:
            runs = sorted(
                (r for r in rows if (r.client, r.rate) == (client, rate)),
                key=lambda r: r.result.lag_p99_ms,
            )
            held[client, rate] = f"{sum(r.holds for r in runs)}/{len(runs)}"
            _print_row(runs[(len(runs) - 1) // 2], held[client, rate], wrk_rate)
    if wrk_rate is not None:
        closed = f"(wrk -t2 -c{WRK_CONNECTIONS}, closed model)"
        print(f"{'wrk max':<9} {'':>9} {'':>6} {wrk_rate:>10.0f}   {closed}")
    for client in clients:
        counts = ", ".join(f"{rate}/s {held[client, rate]}" for rate in rates)
        print(f"{client}: held the schedule at {counts} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(tools.run(main))

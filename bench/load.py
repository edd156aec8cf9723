"""Benchmark: how well harness.load keeps an open-model schedule, next to wrk's ceiling.

Prints a table and asserts nothing. For offered rates of 500, 1000 and 2000 req/s it runs
the generator for SECONDS each against a trivial endpoint (the reference inventory
service's /healthz, run as a host process on 127.0.0.1) and reports the achieved rate and
the schedule lag (actual send time - planned send time) p50/p99/max. Then ``wrk`` finds
the endpoint's maximum rate in the same time, for scale.

    .venv/bin/python bench/load.py                          # from the repository root
    .venv/bin/python bench/load.py --rates 2000,3000,4000   # look for the ceiling

If the inventory binary cannot be built, a stdlib-only Go server (bench/trivial_server)
stands in. The server is stopped at the end whatever happens. Loopback only; bounded.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from harness.load import LoadResult, run_load

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose"
INVENTORY = COMPOSE / "bin" / "inventory"
TRIVIAL_SOURCE = ROOT / "bench" / "trivial_server" / "main.go"
RATES = (500, 1000, 2000)
SECONDS = 5.0
MAX_BENCH_RATE = 10_000  # the bench stays bounded whatever is typed
WRK = "/usr/bin/wrk"
WRK_CONNECTIONS = 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_binary(workdir: Path) -> tuple[Path, str]:
    """The inventory binary if it builds (or is built), else the stand-in server."""
    try:
        subprocess.run(
            ["sh", "build.sh"], cwd=COMPOSE, check=True, timeout=600, capture_output=True
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"# compose/build.sh failed ({exc}); using whatever is already built")
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
    env = {**os.environ, "PORT": str(port), "GIN_MODE": "release"}
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


def _generator_row(base_url: str, rate: int) -> tuple[LoadResult, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = run_load(
        base_url,
        "GET /healthz",
        rate=rate,
        seconds=SECONDS,
        max_requests=int(rate * SECONDS),
        timeout=2.0,
    )
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, 100 * cpu / result.elapsed_s


def _wrk_max_rate(base_url: str) -> float | None:
    if not shutil.which(WRK):
        print(f"# {WRK} not found (apt-get install wrk); skipping the ceiling")
        return None
    command = [WRK, "-t2", f"-c{WRK_CONNECTIONS}", f"-d{int(SECONDS)}s", base_url + "/healthz"]
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=SECONDS + 30, check=False
    )
    output = finished.stdout
    if finished.returncode != 0:
        print(f"# wrk exited {finished.returncode}: {finished.stdout} {finished.stderr}")
        return None
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return float(match.group(1)) if match else None


def _rates(text: str) -> tuple[int, ...]:
    rates = tuple(int(part) for part in text.split(","))
    if not all(0 < rate <= MAX_BENCH_RATE for rate in rates):
        raise argparse.ArgumentTypeError(f"rates must be in 1..{MAX_BENCH_RATE}")
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=_rates, default=RATES, help="e.g. 500,1000,2000")
    rates: tuple[int, ...] = parser.parse_args().rates
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="chaos-bench-") as workdir:
        binary, endpoint = _server_binary(Path(workdir))
        with _serving(binary, _free_port(), Path(workdir) / "server.log") as base_url:
            # Warm-up outside the table: first-use imports and the first connections.
            run_load(base_url, "GET /healthz", rate=200, seconds=1, max_requests=200, timeout=2)
            rows = [(rate, *_generator_row(base_url, rate)) for rate in rates]
            wrk_rate = _wrk_max_rate(base_url)

    # Other work on the machine moves these numbers a lot; say how busy it was.
    print(
        f"endpoint: {endpoint}; {SECONDS:.0f} s per row; {os.cpu_count()} CPUs; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    header = (
        f"{'offered/s':>9} {'sent':>6} {'achieved/s':>10} {'ok':>6} {'lag p50 ms':>10} "
        f"{'lag p99 ms':>10} {'lag max ms':>10} {'in flight':>9} {'client CPU':>10} "
        f"{'wrk/achieved':>12}"
    )
    print(header)
    print("-" * len(header))
    for rate, result, cpu in rows:
        ratio = (
            f"{wrk_rate / result.achieved_rate:.1f}x" if wrk_rate and result.achieved_rate else "-"
        )
        print(
            f"{rate:>9} {result.sent:>6} {result.achieved_rate:>10.0f} "
            f"{result.outcomes.get('ok', 0):>6} {result.lag_p50_ms:>10.2f} "
            f"{result.lag_p99_ms:>10.2f} {result.lag_max_ms:>10.2f} {result.max_in_flight:>9} "
            f"{cpu:>9.0f}% {ratio:>12}"
        )
    if wrk_rate is not None:
        closed = f"(wrk -t2 -c{WRK_CONNECTIONS}, closed model)"
        print(f"{'wrk max':>9} {'':>6} {wrk_rate:>10.0f}   {closed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End to end: a real service without pprof or /metrics gets *unknown* with the how-to.

The service is a small Go program (standard library only, built here into a ``FROM
scratch`` image) that serves its own routes and nothing else, as many real services do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.build import context_hash
from harness.topology import Build
from tests.runs import Run

PLAIN_SERVER = """\
// A service that serves its own routes only: no net/http/pprof, no Prometheus metrics.
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/hello", ok)
	log.Fatal(http.ListenAndServe(":"+os.Getenv("PORT"), mux))
}
"""

DOCKERFILE = """\
FROM scratch
COPY plain /app
USER 65534:65534
ENTRYPOINT ["/app"]
"""

COMPOSE = """\
services:
  plain:
    build: {{context: {context}}}
    environment: {{PORT: "8080"}}
    ports: ["8080"]
x-chaos:
  services:
    plain: {{port: 8080, health: /healthz}}
"""

TESTS = """
import pytest

from harness.checks import Outcome, goroutine_baseline, no_leaked_goroutines, read_metrics
from harness.errors import ProbeError


def test_the_verdict_is_unknown_with_the_how_to(chaos):
    baseline = goroutine_baseline(chaos, "plain")  # must not raise
    assert not baseline.taken
    chaos.load("plain", "GET /hello", rate=20, seconds=0.5)
    verdict = no_leaked_goroutines(chaos, baseline, settle_s=1)
    print("VERDICT", verdict.outcome.value, verdict.message)
    assert verdict.outcome is Outcome.UNKNOWN
    with pytest.raises(ProbeError) as missing:
        read_metrics(chaos, "plain")
    print("METRICS", missing.value)


def test_requiring_it_fails_as_unknown_not_with_a_traceback(chaos):
    no_leaked_goroutines(chaos, goroutine_baseline(chaos, "plain")).require()
"""


@pytest.fixture(scope="module")
def plain_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("needs the Go toolchain to build the plain service")
    context = tmp_path_factory.mktemp("plain-service")
    (context / "main.go").write_text(PLAIN_SERVER)
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / ".dockerignore").write_text("main.go\n")
    subprocess.run(
        [go, "build", "-trimpath", "-o", "plain", "main.go"],
        cwd=context,
        env={**os.environ, "CGO_ENABLED": "0"},
        check=True,
        timeout=300,
    )
    return context


def test_a_service_without_pprof_or_metrics_gets_unknown_naming_the_endpoint_and_the_fix(
    harness: Run, plain_context: Path
) -> None:
    harness.images.append(context_hash(Build(context=plain_context)))
    harness.setup(TESTS, COMPOSE.format(context=plain_context))

    result = harness.run("-s", "-p", "no:randomly")

    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    verdict = next(line[line.index("VERDICT") :] for line in out.splitlines() if "VERDICT" in line)
    assert verdict.startswith(
        "VERDICT unknown no goroutine baseline of plain could be taken before the fault, so a "
        "leak cannot be told from the goroutines it always has: plain does not serve a "
        "goroutine dump: GET http://127.0.0.1:"
    ), verdict
    assert "/debug/pprof/goroutine?debug=2 answered 404 Not Found" in verdict
    assert "/debug/pprof is the conventional default: x-chaos services.plain.pprof names no" in (
        verdict
    )
    assert 'import _ "net/http/pprof"' in verdict
    assert 'router.GET("/debug/pprof/*any", gin.WrapH(http.DefaultServeMux))' in verdict
    metrics = next(line[line.index("METRICS") :] for line in out.splitlines() if "METRICS" in line)
    assert "/metrics answered 404 Not Found" in metrics
    assert "promhttp.Handler()" in metrics
    # Required, the unknown verdict fails the test with its reason, not a ProbeError traceback.
    result.stdout.fnmatch_lines(["E *AssertionError: [[]no leaked goroutines: unknown[]] no *"])
    assert "ProbeError" not in out.split("test_requiring_it_fails_as_unknown")[-1]
    harness.assert_nothing_left()

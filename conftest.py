"""What this repository's own test runs share (tests/ and suites/ alike).

- ``pytester``, and the ``harness`` fixture: a folder to run the plugin in as a user
  does, removed with whatever its runs left (see :mod:`tests.runs`);
- ``image_context``: the reference binaries, built once in this process;
- one cache of the harness's Toxiproxy build for every run, the inner ``pytester`` runs
  included: pytester gives each run its own HOME, where the Go caches are cold and a
  build takes minutes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.build import build_lock, run_prebuild
from harness.proxies import cache_dir, toxiproxy_binary
from harness.topology import load_topology
from tests.runs import REFERENCE, Run

pytest_plugins = ["pytester"]

os.environ.setdefault("CHAOS_HARNESS_CACHE", str(cache_dir()))


@pytest.fixture(scope="session")
def image_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private build context with the reference binaries and Dockerfile.

    A copy, so that a concurrent rebuild of ``compose/bin`` cannot change an image under a
    running test; its content hash is stable, so the images are built once and reused.
    """
    # The reference's own prebuild and the harness's Toxiproxy, here rather than in a run:
    # pytester gives each run a fresh HOME, and with it cold Go caches.
    toxiproxy_binary()
    topology = load_topology(REFERENCE / "docker-compose.yml")
    with build_lock(topology):
        run_prebuild(topology)
    bins = REFERENCE / "bin"
    context = tmp_path_factory.mktemp("reference-images")
    # Everything the reference Dockerfile may copy, except the race builds nobody here needs.
    shutil.copytree(bins, context / "bin", ignore=shutil.ignore_patterns("race"))
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy2(REFERENCE / name, context / name)
    return context


@pytest.fixture
def harness(pytester: pytest.Pytester, image_context: Path) -> Iterator[Run]:
    """A folder to run the harness in; removes whatever its runs left, even on failure."""
    run = Run(pytester, image_context)
    try:
        yield run
    finally:
        run.cleanup()

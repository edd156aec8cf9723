"""The Toxiproxy the harness supplies for a system's links: built once, cached, imaged.

A compose file names its links (``x-chaos: links: [front->back]``) and keeps its services
calling each other by their compose names; the backends put one of these Toxiproxy servers
on every link (see ``docs/architecture.md``). The build is the project's own: Toxiproxy
as pinned in ``toxiproxy_build/go.mod``, with the HTTP toxics of ``toxiproxy_build/
httptoxics`` compiled in and the fixes of ``toxiproxy_build/patches`` applied. It is
compiled on this machine with the Go toolchain, the first time it is needed, into the
cache (``$CHAOS_HARNESS_CACHE``, else ``$XDG_CACHE_HOME/chaos-harness``, else
``~/.cache/chaos-harness``), keyed by a hash of its sources and the Go version; the Docker
backend packs the binary into a ``FROM scratch`` image tagged by the binary's hash.

A system whose users cannot build Go names a Toxiproxy image instead
(``x-chaos: proxy: {image: NAME}``); a stock Toxiproxy works for every fault but the HTTP
ones, which the harness refuses on it, naming this build.

``python -m harness.proxies`` builds (or finds) the binary and prints its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from harness.build import prune_images
from harness.errors import BuildError

if TYPE_CHECKING:
    import docker

__all__ = [
    "HTTP_TOXICS_MARK",
    "IMAGE_REPOSITORY",
    "cache_dir",
    "has_http_toxics",
    "toxiproxy_binary",
    "toxiproxy_image",
]

# What GET /version of this build answers after the upstream version: "v2.12.0+chaos-harness".
HTTP_TOXICS_MARK = "+chaos-harness"
IMAGE_REPOSITORY = "chaos-harness/toxiproxy"
SOURCE = Path(__file__).with_name("toxiproxy_build")
MODULE = "github.com/Shopify/toxiproxy/v2"
_BUILD_TIMEOUT_S = 900
_DOCKERFILE = """\
FROM scratch
COPY toxiproxy /toxiproxy
USER 65534:65534
ENTRYPOINT ["/toxiproxy"]
"""


def has_http_toxics(version: str) -> bool:
    """Whether a Toxiproxy that answers ``version`` on GET /version is this build."""
    return HTTP_TOXICS_MARK in version


def cache_dir() -> Path:
    """Where the harness keeps what it builds for every project on this machine."""
    explicit = os.environ.get("CHAOS_HARNESS_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chaos-harness"


def toxiproxy_binary() -> Path:
    """The path of the harness's Toxiproxy build, compiling it first if it is not cached."""
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "the harness builds the Toxiproxy it puts on your links (with its HTTP toxics) "
            "from Go sources, and `go` is not on PATH: install Go (1.23 or newer), or name "
            "a Toxiproxy image with `x-chaos: proxy: {image: NAME}` in the compose file "
            "(a stock image works for every fault but the HTTP ones)"
        )
    version = _run([go, "env", "GOVERSION"], cwd=SOURCE, what="go env GOVERSION").strip()
    folder = cache_dir() / "toxiproxy" / _source_digest(version)[:16]
    binary = folder / "toxiproxy"
    if binary.is_file():
        return binary
    with _locked(cache_dir() / "toxiproxy.lock"):
        if not binary.is_file():  # another process may have built it while we waited
            _build(go, folder, binary)
    return binary


def toxiproxy_image(client: docker.DockerClient) -> str:
    """A ``FROM scratch`` image of :func:`toxiproxy_binary`, built once per binary."""
    import docker.errors

    binary = toxiproxy_binary()
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    tag = f"{IMAGE_REPOSITORY}:{digest[:16]}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="chaos-toxiproxy-") as context:
        shutil.copy2(binary, Path(context) / "toxiproxy")
        (Path(context) / "Dockerfile").write_text(_DOCKERFILE)
        try:
            client.images.build(path=context, tag=tag, rm=True, forcerm=True, pull=False)
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise BuildError(
                f"the engine could not build the Toxiproxy image {tag}: {exc}"
            ) from None
    prune_images(client, IMAGE_REPOSITORY, keep=tag)
    return tag


# -- the build ---------------------------------------------------------------------------


def _source_digest(go_version: str) -> str:
    digest = hashlib.sha256(go_version.encode() + b"\0")
    for file in sorted(p for p in SOURCE.rglob("*") if p.is_file()):
        if file.name.endswith("_test.go") or file.suffix == ".md":
            continue  # tests and docs do not change the binary
        digest.update(str(file.relative_to(SOURCE)).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _build(go: str, folder: Path, binary: Path) -> None:
    """Copy the sources and upstream's module out, patch the copy, build against it."""
    if shutil.which("patch") is None:
        raise BuildError(
            "building the harness's Toxiproxy needs `patch` to apply its fixes to upstream "
            "(Debian: apt-get install patch)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=folder))
    try:
        source = work / "source"
        shutil.copytree(SOURCE, source)
        _writable(source)
        _run([go, "mod", "download", MODULE], cwd=source, what=f"go mod download {MODULE}")
        upstream = _run(
            [go, "list", "-m", "-f", "{{.Dir}}", MODULE], cwd=source, what="go list -m"
        ).strip()
        module = work / "module"
        shutil.copytree(upstream, module)
        _writable(module)
        for fix in sorted((source / "patches").glob("*.patch")):
            with fix.open("rb") as diff:
                _run(
                    ["patch", "-s", "-p1", "-d", str(module)], cwd=source, what=fix.name, stdin=diff
                )
        # Build through a copy of go.mod that replaces the module with the patched copy.
        shutil.copy2(source / "go.mod", work / "build.mod")
        shutil.copy2(source / "go.sum", work / "build.sum")
        modfile = f"-modfile={work / 'build.mod'}"
        _run(
            [go, "mod", "edit", modfile, f"-replace={MODULE}={module}"],
            cwd=source,
            what="go mod edit",
        )
        built = work / "toxiproxy"
        _run(
            [go, "build", "-trimpath", modfile, "-o", str(built), "."],
            cwd=source,
            what="go build",
            env={"CGO_ENABLED": "0"},
        )
        os.replace(built, binary)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _writable(root: Path) -> None:
    # The module cache is read-only; the copies are patched and built in place.
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _run(
    command: Sequence[str],
    *,
    cwd: Path,
    what: str,
    env: dict[str, str] | None = None,
    stdin: IO[bytes] | None = None,
) -> str:
    try:
        done = subprocess.run(
            list(command),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(
            f"building the harness's Toxiproxy: {what} ran past {_BUILD_TIMEOUT_S} s"
        ) from None
    if done.returncode != 0:
        tail = "\n".join(
            "    " + line for line in (done.stdout + done.stderr).strip().splitlines()[-30:]
        )
        raise BuildError(
            f"building the harness's Toxiproxy failed at {what} (exit code {done.returncode}); "
            "it needs the Go module proxy or a warm module cache. Its output:\n" + tail
        )
    return str(done.stdout)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


if __name__ == "__main__":
    print(toxiproxy_binary())

"""Builds what a topology needs: the host pre-build step, then images keyed by content.

An image is tagged with a hash of everything that goes into it (the files of its build
context that ``.dockerignore`` lets through, the Dockerfile's name, the target stage and
the build args), so a run rebuilds exactly the images whose inputs changed and reuses the
rest. A service with only ``image:`` uses that image from the engine, pulled once if absent.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import BuildError

if TYPE_CHECKING:
    import docker

    from harness.topology import Build, Service, Topology

__all__ = [
    "IMAGE_LABEL",
    "build_images",
    "build_lock",
    "context_hash",
    "image_repository",
    "image_tag",
    "prune_images",
    "run_prebuild",
]

IMAGE_LABEL = "chaos-harness.inputs"
_PREBUILD_TIMEOUT_S = 900
_IMAGES_KEPT = 4  # per project and service; older ones are pruned after a new build


@contextmanager
def build_lock(topology: Topology) -> Iterator[None]:
    """One build at a time per project: pytest-xdist workers share the build outputs."""
    folder = topology.project_dir / ".chaos"
    folder.mkdir(exist_ok=True)
    with (folder / "build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_prebuild(topology: Topology, env: Mapping[str, str] | None = None) -> None:
    """Run ``x-chaos.prebuild`` in the compose file's folder; fail with its output.

    With ``inputs`` globs, the step is skipped when neither they nor ``env`` changed since
    its last success (a stamp in ``.chaos/`` beside the compose file records them).
    """
    if topology.prebuild is None:
        return
    stamp = topology.project_dir / ".chaos" / "prebuild.stamp"
    digest = _prebuild_digest(topology, env or {})
    if digest is not None and stamp.is_file() and stamp.read_text() == digest:
        return
    stamp.unlink(missing_ok=True)
    try:
        done = subprocess.run(
            list(topology.prebuild),
            cwd=topology.project_dir,
            capture_output=True,
            text=True,
            timeout=_PREBUILD_TIMEOUT_S,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except FileNotFoundError as exc:
        raise BuildError(
            f"x-chaos.prebuild {list(topology.prebuild)} in {topology.path} could not start: "
            f"{exc}; install the program it names or fix the command"
        ) from None
    except subprocess.TimeoutExpired:
        raise BuildError(
            f"x-chaos.prebuild {list(topology.prebuild)} ran longer than "
            f"{_PREBUILD_TIMEOUT_S} s; run it by hand in {topology.project_dir} to see why"
        ) from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-40:]
        raise BuildError(
            f"x-chaos.prebuild {list(topology.prebuild)} failed with exit code "
            f"{done.returncode} in {topology.project_dir}; fix the build and run again.\n"
            + "\n".join("    " + line for line in output)
        )
    digest = _prebuild_digest(topology, env or {})
    if digest is not None:
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest)


def _prebuild_digest(topology: Topology, env: Mapping[str, str]) -> str | None:
    if topology.prebuild_inputs is None:
        return None
    root = topology.project_dir
    digest = hashlib.sha256(repr((topology.prebuild, sorted(env.items()))).encode())
    for file in _matching(root, topology.prebuild_inputs):
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    # Outputs are large binaries: their size and modification time say enough.
    for file in _matching(root, topology.prebuild_outputs):
        info = file.stat()
        digest.update(f"{file.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def _matching(root: Path, patterns: Iterable[str]) -> list[Path]:
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


# Services usually share one build context: hash each file once per process, keyed by what
# would change if the file did.
_digests: dict[tuple[str, int, int], bytes] = {}


def _file_digest(file: Path) -> bytes:
    info = file.stat()
    key = (str(file), info.st_size, info.st_mtime_ns)
    if key not in _digests:
        _digests[key] = hashlib.sha256(file.read_bytes()).digest()
    return _digests[key]


def context_hash(build: Build, extra_args: Mapping[str, str] | None = None) -> str:
    """Hash of the files an image build would send, plus the Dockerfile name and args."""
    from docker.utils.build import exclude_paths

    root = build.context
    if not root.is_dir():
        raise BuildError(f"build context {root} does not exist; fix `build.context`")
    ignore_file = root / ".dockerignore"
    patterns = ignore_file.read_text().splitlines() if ignore_file.is_file() else []
    patterns = [p.strip() for p in patterns if p.strip() and not p.startswith("#")]
    digest = hashlib.sha256()
    for rel in sorted(exclude_paths(str(root), patterns, dockerfile=build.dockerfile)):
        file = root / rel
        if file.is_file():
            digest.update(rel.encode() + b"\0")
            digest.update(_file_digest(file))
    digest.update(build.dockerfile.encode() + b"\0")
    if build.target is not None:  # only when set: images built before targets keep their tag
        digest.update(f"target={build.target}\0".encode())
    for key, value in sorted({**build.args, **(extra_args or {})}.items()):
        digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()


def image_repository(topology: Topology, service: Service) -> str:
    """Images are named per project and service, so two projects never share a name."""
    return f"chaos-harness/{topology.project}-{service.name}"


def image_tag(topology: Topology, service: Service, digest: str) -> str:
    return f"{image_repository(topology, service)}:{digest[:16]}"


def prune_images(client: docker.DockerClient, repository: str, *, keep: str) -> list[str]:
    """Remove older images of ``repository`` but the newest few (and ``keep``); an image a
    container still uses stays. Returns the tags removed.

    A few are kept, not one: a run may use two builds of a service at once (a race
    build beside the plain one), and the next run should not have to rebuild either.
    """
    import docker.errors

    images = sorted(
        client.images.list(name=repository),
        key=lambda image: str(image.attrs.get("Created", "")),
        reverse=True,
    )
    removed: list[str] = []
    for image in images[_IMAGES_KEPT:]:
        if keep in image.tags:
            continue
        try:
            client.images.remove(image.id, noprune=False)
        except docker.errors.APIError:
            continue  # in use by a container (another session's), or already gone
        removed += image.tags
    return removed


def build_images(
    client: docker.DockerClient, topology: Topology, extra_args: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Build (or reuse) an image for every service; return service name -> image.

    ``extra_args`` are build args given to every build (``x-chaos.race.build_args``, say).
    """
    import docker.errors

    images: dict[str, str] = {}
    for service in topology.services.values():
        if service.build is None:
            assert service.image is not None  # the topology guarantees one of the two
            _ensure_image(client, service, service.image)
            images[service.name] = service.image
            continue
        args = {**service.build.args, **(extra_args or {})}
        digest = context_hash(service.build, extra_args)
        tag = image_tag(topology, service, digest)
        try:
            client.images.get(tag)
        except docker.errors.ImageNotFound:
            _build_one(client, service, service.build, args, tag, digest)
            prune_images(client, image_repository(topology, service), keep=tag)
        images[service.name] = tag
    return images


def _ensure_image(client: docker.DockerClient, service: Service, image: str) -> None:
    """Use ``image`` from the engine; when it is not there, try one pull, then fail clearly."""
    import docker.errors

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(image)
    except (docker.errors.DockerException, OSError) as exc:
        reason = getattr(exc, "explanation", None) or exc
        raise BuildError(
            f"service {service.name!r} uses the image {image!r}, which is not on this Docker "
            f"engine, and pulling it failed ({reason}). Put it on the engine first: "
            f"`docker pull {image}` where a registry is reachable (or `docker save` it there "
            "and `docker load -i FILE` here), or give the service a `build:` section"
        ) from None


def _build_one(
    client: docker.DockerClient,
    service: Service,
    build: Build,
    args: Mapping[str, str],
    tag: str,
    digest: str,
) -> None:
    import docker.errors

    try:
        client.images.build(
            path=str(build.context),
            dockerfile=build.dockerfile,
            buildargs=dict(args),
            tag=tag,
            target=build.target,
            labels={IMAGE_LABEL: digest},
            rm=True,
            forcerm=True,
            pull=False,
        )
    except docker.errors.BuildError as exc:
        log = "".join(
            str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log
        )
        tail = "\n".join("    " + line for line in log.strip().splitlines()[-30:])
        raise BuildError(
            f"the image of service {service.name!r} failed to build from "
            f"{Path(build.context) / build.dockerfile}: {exc.msg}\n{tail}"
        ) from None
    except docker.errors.APIError as exc:
        raise BuildError(
            f"the engine refused to build the image of service {service.name!r}: {exc}"
        ) from None

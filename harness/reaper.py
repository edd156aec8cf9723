"""Removes what earlier runs left behind when they were killed before they could clean up.

Only resources whose owning process is certainly gone are touched, so two runs (or two
pytest-xdist workers) on one machine never reap each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.labels import OWNER_LABEL, SESSION_LABEL, owner_alive

if TYPE_CHECKING:
    import docker

__all__ = ["orphaned_sessions", "reap_docker"]


def orphaned_sessions(client: docker.DockerClient) -> set[str]:
    """Sessions that own containers, networks or volumes but whose owner has died."""
    orphans: set[str] = set()
    resources = [
        # ignore_removed: another run may be removing a container between list and inspect.
        *client.containers.list(all=True, filters={"label": SESSION_LABEL}, ignore_removed=True),
        *client.networks.list(filters={"label": SESSION_LABEL}),
        *client.volumes.list(filters={"label": SESSION_LABEL}),
    ]
    for resource in resources:
        labels = resource.attrs.get("Labels") or resource.attrs.get("Config", {}).get("Labels")
        labels = labels or {}
        session = labels.get(SESSION_LABEL)
        if session and not owner_alive(labels.get(OWNER_LABEL, "")):
            orphans.add(session)
    return orphans


def reap_docker(client: docker.DockerClient) -> list[str]:
    """Remove every orphaned session's resources; return the sessions reaped."""
    from harness.backends.docker import remove_session

    reaped = sorted(orphaned_sessions(client))
    for session in reaped:
        remove_session(client, session)
    return reaped

"""The container ports of a service, from ``ports:`` and ``expose:`` in their short and long
forms: TCP only (UDP and SCTP ports are noted and left out), published on loopback only.

Only the container port is kept: the harness picks the host ports itself, so a published
port in the file is checked but not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.compose.keys import Notes
from harness.compose.parse import as_list, error, unknown_key
from harness.errors import TopologyError

__all__ = ["read_expose", "read_ports"]

_LOOPBACK = {"", "127.0.0.1", "localhost", "::1"}  # the harness publishes on 127.0.0.1
_LONG_KEYS = {"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"}


def read_ports(name: str, raw: object, where: str, notes: Notes) -> tuple[int, ...]:
    """The container TCP ports of ``services.NAME.ports``, in file order, each once."""
    what = f"services.{name}.ports"
    ports: list[int] = []
    for item in as_list(raw, where, what):
        if isinstance(item, Mapping):
            ports += _long_port(name, item, where, notes)
            continue
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise error(where, what, f"{item!r} is not a port mapping")
        text = str(item)
        spec, _, protocol = text.partition("/")
        if not _tcp(name, protocol or "tcp", text, what, where, notes):
            continue
        host_ip, published, target = _split_port(spec)
        if host_ip is None:
            raise error(
                where, what, f"{text!r}: write an IPv6 host address in brackets, e.g. [::1]:80:80"
            )
        _loopback(what, text, host_ip, where)
        if published:
            _port_range(published, where, what, text)  # checked; the harness picks its own
        ports += _port_range(target, where, what, text)
    return tuple(dict.fromkeys(ports))


def read_expose(name: str, raw: object, where: str, notes: Notes) -> tuple[int, ...]:
    """The TCP ports of ``services.NAME.expose``, in file order, each once."""
    what = f"services.{name}.expose"
    ports: list[int] = []
    for item in as_list(raw, where, what):
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise error(where, what, f"{item!r} is not a port")
        spec, _, protocol = str(item).partition("/")
        if _tcp(name, protocol or "tcp", str(item), what, where, notes):
            ports += _port_range(spec, where, what, str(item))
    return tuple(dict.fromkeys(ports))


def _long_port(name: str, spec: Mapping[str, Any], where: str, notes: Notes) -> list[int]:
    what = f"services.{name}.ports"
    for key in spec:
        if key not in _LONG_KEYS:
            raise TopologyError(unknown_key(str(key), where, what, _LONG_KEYS))
    shown = dict(spec)
    if not _tcp(name, str(spec.get("protocol") or "tcp"), str(shown), what, where, notes):
        return []
    _loopback(what, str(shown), str(spec.get("host_ip") or ""), where)
    if spec.get("published") is not None:
        _port_range(str(spec["published"]), where, what, str(shown))
    if "target" not in spec:
        raise error(where, what, f"{shown!r} needs `target:`, the container port")
    return _port_range(str(spec["target"]), where, what, str(shown))


def _tcp(name: str, protocol: str, text: str, what: str, where: str, notes: Notes) -> bool:
    protocol = protocol.lower()
    if protocol == "tcp":
        return True
    if protocol in ("udp", "sctp"):
        notes.note(
            f"the {protocol.upper()} port {text} of service {name} is not published: the "
            "harness publishes and proxies TCP only"
        )
        return False
    raise error(where, what, f"{text!r}: protocol {protocol!r} is not tcp or udp")


def _loopback(what: str, text: str, host_ip: str, where: str) -> None:
    if host_ip.strip("[]") not in _LOOPBACK:
        raise error(
            where,
            what,
            f"{text!r} publishes on {host_ip}; chaos-harness publishes every port on "
            "127.0.0.1 only, at ports it picks, so that nothing beyond this machine "
            "reaches the system under test; remove the address (or write 127.0.0.1)",
        )


def _split_port(spec: str) -> tuple[str | None, str, str]:
    """[[HOST_IP:]PUBLISHED:]TARGET -> (host ip, published, target); None ip: unreadable."""
    if spec.startswith("["):
        address, sep, rest = spec[1:].partition("]")
        published, _, target = rest.removeprefix(":").rpartition(":")
        return (address, published, target) if sep else (None, "", "")
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return None, "", ""


def _port_range(text: str, where: str, what: str, shown: str) -> list[int]:
    first, sep, last = text.strip().partition("-")
    numbers = [first, last] if sep else [first]
    if not all(n.isdigit() and 0 < int(n) < 65536 for n in numbers):
        raise error(where, what, f"{shown!r} is not a port between 1 and 65535 (or a range)")
    low, high = int(numbers[0]), int(numbers[-1])
    if high < low:
        raise error(where, what, f"{shown!r}: the range {text} runs backwards")
    return list(range(low, high + 1))

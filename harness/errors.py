"""The one error hierarchy of chaos-harness.

Every message says what went wrong *and what to do about it*; a user should never have to
read the harness's source to get going again.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BuildError",
    "ChaosError",
    "ConfigError",
    "EngineUnavailableError",
    "FaultError",
    "HistoryError",
    "LeftoverFaultError",
    "ProbeError",
    "SignalMissingError",
    "StartupError",
    "TopologyError",
    "TopologyWarning",
]


class ChaosError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(ChaosError):
    """A setting (flag, ini key, fixture) has a value the harness cannot use."""


class TopologyError(ChaosError):
    """The compose file or its ``x-chaos`` block cannot be used as written."""


class TopologyWarning(UserWarning):
    """Parts of a compose file the harness leaves out or changes; the run goes on without them."""


class BuildError(ChaosError):
    """The host pre-build step or an image build failed."""


class BackendError(ChaosError):
    """The backend could not do what was asked of a service."""


class EngineUnavailableError(BackendError):
    """No container engine answered."""


class StartupError(BackendError):
    """A service did not become ready; carries the service's recent logs."""

    def __init__(self, message: str, *, service: str = "", logs: str = "") -> None:
        self.service = service
        self.logs = logs
        if logs:
            tail = "\n".join("    " + line for line in logs.rstrip().splitlines()[-30:])
            message = f"{message}\n  last log lines of {service!r}:\n{tail}"
        super().__init__(message)


class FaultError(ChaosError):
    """A fault was built with bad parameters, or cannot be applied or healed."""


class LeftoverFaultError(FaultError):
    """A fault was still active when its test ended."""


class HistoryError(ChaosError):
    """A history (recorded or loaded) is not well formed, so no checker can trust it."""


class ProbeError(ChaosError):
    """A standard signal (/metrics, pprof, logs, state) could not be read."""


class SignalMissingError(ProbeError):
    """The service answered, but not with the signal asked for: it does not serve it there.

    Kept apart from an unreachable service because the remedy differs: serve the signal
    (``howto``) or point the harness at the path it is served on.
    """

    def __init__(self, url: str, answer: str, what: str, howto: str) -> None:
        self.url = url
        self.answer = answer
        self.what = what
        self.howto = howto
        super().__init__(f"GET {url} answered {answer} instead of {what}; to serve it, {howto}")

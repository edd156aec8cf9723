"""The three-valued result of every check: pass, fail, or unknown (could not observe)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Outcome", "Verdict"]


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    check: str
    outcome: Outcome
    message: str
    evidence: Mapping[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def require(self) -> None:
        """Fail the test unless the check passed; an unknown verdict fails too.

        Inside a chaos test the verdict is told to the running system's listeners first
        (the run's summary counts it; the Allure report attaches its evidence).
        """
        __tracebackhide__ = True
        from harness.context import current_environment

        env = current_environment()
        if env is not None:
            env.events.verdict(self)
        if self.outcome is Outcome.PASS:
            return
        raise AssertionError(f"[{self.check}: {self.outcome.value}] {self.message}")

    @classmethod
    def passing(cls, check: str, message: str, **evidence: str) -> Verdict:
        return cls(check, Outcome.PASS, message, evidence)

    @classmethod
    def failing(cls, check: str, message: str, **evidence: str) -> Verdict:
        return cls(check, Outcome.FAIL, message, evidence)

    @classmethod
    def unknown(cls, check: str, message: str, **evidence: str) -> Verdict:
        return cls(check, Outcome.UNKNOWN, message, evidence)

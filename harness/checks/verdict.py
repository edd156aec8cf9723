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

        The evidence is attached to the Allure result either way it fails.
        """
        __tracebackhide__ = True
        from harness.summary import note_verdict

        note_verdict(self)  # the run's closing summary counts every required verdict
        if self.outcome is Outcome.PASS:
            return
        from harness.report import attach_text

        for name, text in self.evidence.items():
            attach_text(f"{self.check}: {name}", text)
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

"""The value types shared by checks, the scheduler and the outputs.

Kept free of I/O and of OpenTelemetry so the check logic (thresholds,
hysteresis) is testable with plain numbers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    """A check's verdict; ``value`` is what the ``health.check.status`` gauge reports."""

    HEALTHY = 1.0
    DEGRADED = 0.5
    FAILING = 0.0

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Status:
        """Accept the words users write for the three states (``ok``, ``warn``, ``error`` ...)."""
        word = text.strip().lower()
        for status, words in _WORDS.items():
            if word in words:
                return status
        raise ValueError(f"{text!r} is not a health status (use healthy, degraded or failing)")


_WORDS = {
    Status.HEALTHY: ("healthy", "ok", "up", "pass", "true"),
    Status.DEGRADED: ("degraded", "warn", "warning"),
    Status.FAILING: ("failing", "fail", "error", "down", "critical", "false"),
}


@dataclass(frozen=True)
class Verdict:
    """What one run of a check found."""

    status: Status
    message: str
    value: float | None = None


@dataclass(frozen=True)
class CheckResult:
    """A finished (or abandoned) run as the outputs see it."""

    name: str
    kind: str
    status: Status
    message: str
    duration_s: float
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """Warning/critical levels in percent, with a hysteresis band below each.

    A level is entered when the value reaches it and left only when the value
    falls ``hysteresis`` points below it, so a value hovering at the line does
    not flap between states on every run.
    """

    warning: float | None
    critical: float | None
    hysteresis: float = 0.0

    def classify(self, value: float, previous: Status | None) -> Status:
        critical_line = self._line(self.critical, previous is Status.FAILING)
        if critical_line is not None and value >= critical_line:
            return Status.FAILING
        warning_line = self._line(self.warning, previous in (Status.DEGRADED, Status.FAILING))
        if warning_line is not None and value >= warning_line:
            return Status.DEGRADED
        return Status.HEALTHY

    def _line(self, level: float | None, above_before: bool) -> float | None:
        if level is None:
            return None
        return level - self.hysteresis if above_before else level

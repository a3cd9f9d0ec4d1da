"""Build rules from YAML text and drive the engine in simulated time."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.resources import Resource

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.section import AlertingConfig, load_alerting_config
from otelbundle.alerting.telemetry import AlertTelemetry
from otelbundle.cli.ruletest import synthetic_span


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[Alert]] = []

    def submit(self, alerts: Sequence[Alert]) -> None:
        self.batches.append(list(alerts))

    @property
    def sent(self) -> list[Alert]:
        return [a for batch in self.batches for a in batch]


def config_from(tmp_path: Path, rules: str, alerting: str = "") -> AlertingConfig:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [rules.yaml]\n" + textwrap.indent(textwrap.dedent(alerting), "  ")
    )
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    return config


class Sim:
    """An engine on a fake clock; each span goes through the real processor and is
    folded into the windows at once, at the current simulated time."""

    def __init__(
        self, config: AlertingConfig, instance: str | None = None, telemetry: AlertTelemetry | None = None
    ) -> None:
        self.now = 1_000_000.0
        self.recorder = Recorder()
        self.engine = Engine(
            config,
            self.recorder,
            clock=lambda: self.now,
            telemetry=telemetry,
            process_labels=(lambda: {"instance": instance}) if instance is not None else None,
        )
        self.processor = self.engine.processor
        self._resources: dict[str, Resource] = {}

    def span(
        self,
        *,
        error: bool = False,
        duration: float = 0.1,
        service: str = "shop",
        name: str = "GET /",
        kind: str = "server",
        trace_id: str = "",
        **attributes: object,
    ) -> None:
        resource = self._resources.setdefault(service, Resource({"service.name": service}))
        span = synthetic_span(
            name=name,
            kind=kind,
            error=error,
            duration=duration,
            attributes=attributes,
            resource=resource,
            trace_id=int(trace_id, 16) if trace_id else 0,
            end=self.now,
        )
        self.processor.on_end(span)
        self.processor.drain(self.now)

    def at(self, seconds: float) -> list[Alert]:
        self.now = 1_000_000.0 + seconds
        return self.engine.evaluate(self.now)

    def state(self, rule: str = "A") -> str:
        for (_group, name), alerts in self.engine.active.items():
            if name == rule:
                return next(iter(alerts.values())).state if alerts else "inactive"
        return "inactive"


class FakeTime:
    """A wall clock and a monotonic clock that a test moves apart, as an NTP step does."""

    def __init__(self) -> None:
        self.wall_now = 1_700_000_000.0
        self.monotonic_now = 5_000.0

    def wall(self) -> float:
        return self.wall_now

    def monotonic(self) -> float:
        return self.monotonic_now

    def advance(self, seconds: float) -> None:
        self.wall_now += seconds
        self.monotonic_now += seconds

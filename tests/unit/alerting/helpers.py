"""Build rules from YAML text and drive the engine in simulated time."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.config import AlertingConfig, load_alerting_config
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.predicates import SpanView


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
    """An engine on a fake clock; spans go straight into the rule states."""

    def __init__(self, config: AlertingConfig) -> None:
        self.now = 1_000_000.0
        self.recorder = Recorder()
        self.engine = Engine(config, self.recorder, clock=lambda: self.now)

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
        view = SpanView(
            name,
            kind,
            "error" if error else "ok",
            duration,
            attributes,
            {"service.name": service},
            int(trace_id, 16) if trace_id else 0,
        )
        for state in self.engine.states.values():
            if state.rule.matcher.matches(view):
                state.add(view, self.now)

    def at(self, seconds: float) -> list[Alert]:
        self.now = 1_000_000.0 + seconds
        return self.engine.evaluate(self.now)

    def state(self, rule: str = "A") -> str:
        for (_group, name), alerts in self.engine.active.items():
            if name == rule:
                return next(iter(alerts.values())).state if alerts else "inactive"
        return "inactive"

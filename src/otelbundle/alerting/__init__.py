"""In-process alert rules over finished spans, with Prometheus semantics; see docs/alerting.md."""

from otelbundle.alerting.manager import AlertingSetup, build_alerting

__all__ = ["AlertingSetup", "build_alerting"]

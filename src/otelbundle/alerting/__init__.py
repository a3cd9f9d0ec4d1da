"""In-process alert rules over finished spans, with Prometheus semantics; see docs/alerting.md."""

from otelbundle.alerting.setup import AlertingSetup, build_alerting

__all__ = ["AlertingSetup", "build_alerting"]

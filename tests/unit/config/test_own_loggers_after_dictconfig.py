"""An app's ``dictConfig`` without ``disable_existing_loggers: False`` (Python's default, and a
Django ``LOGGING`` that omits the key) disables every logger that exists when it runs.
otelbundle's own still speak: what was not delivered, alert transitions, failing channels."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest
from opentelemetry.sdk.metrics import MeterProvider

from otelbundle.alerting.alert import Alert, AlertState
from otelbundle.alerting.notify import NotificationDispatcher, PermanentError
from otelbundle.alerting.telemetry import AlertTelemetry
from otelbundle.config.report import LOGGER_NAME, diagnostics_logger
from tests.unit.health.test_disabled_logger import restore_logging  # noqa: F401 - a fixture

DISABLE_EVERYTHING = {
    "version": 1,
    "handlers": {"c": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["c"]},
}


def test_the_diagnostics_still_reach_stderr(
    restore_logging: None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    diagnostics_logger()  # exists before the app configures logging, as at start-up
    logging.config.dictConfig(DISABLE_EVERYTHING)
    assert logging.getLogger(LOGGER_NAME).disabled  # what dictConfig did
    diagnostics_logger().warning("otelbundle: telemetry not delivered to x: logs=2 dropped.")
    assert "WARNING otelbundle: telemetry not delivered to x: logs=2 dropped." in capsys.readouterr().err


def test_alert_transitions_and_failing_channels_are_still_logged(
    restore_logging: None,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Refusing:
        name = "pager"

        def send(self, alerts: Sequence[Alert]) -> None:
            raise PermanentError("HTTP 404: no such hook")

    telemetry = AlertTelemetry(meter_provider=MeterProvider())
    logging.getLogger("otelbundle.alerting")  # exists from start-up
    logging.config.dictConfig(DISABLE_EVERYTHING)
    logging.getLogger().addHandler(caplog.handler)
    assert logging.getLogger("otelbundle.alerting").disabled
    telemetry.transition({"alertname": "Errors"}, AlertState.FIRING, 3.0, "")
    dispatcher = NotificationDispatcher([Refusing()], base_delay=0.001)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    dispatcher.submit([Alert({"alertname": "Errors"}, {}, "firing", now, now)])
    assert dispatcher.flush(5)
    dispatcher.shutdown()
    said = [r.getMessage() for r in caplog.records if r.name == "otelbundle.alerting"]
    assert said == [
        "alert Errors firing (value 3)",
        "otelbundle: pager: giving up on a notification: HTTP 404: no such hook",
    ]


def test_a_config_that_names_the_logger_still_decides(
    restore_logging: None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    diagnostics_logger()
    logging.config.dictConfig({**DISABLE_EVERYTHING, "loggers": {LOGGER_NAME: {"level": "CRITICAL"}}})
    diagnostics_logger().warning("otelbundle: quiet please")
    assert "quiet please" not in capsys.readouterr().err

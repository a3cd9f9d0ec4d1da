"""An app's dictConfig without ``disable_existing_loggers: False`` (Python's default) disables
every logger that exists when it runs: the health state changes must still be logged."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator

import pytest

from otelbundle.health.model import CheckResult, Status
from otelbundle.health.outputs import LOGGER_NAME, HealthOutputs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = [
        (logger, logger.disabled, logger.level, logger.propagate, list(logger.handlers))
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    yield
    for logger, disabled, logger_level, propagate, logger_handlers in loggers:
        logger.disabled, logger.propagate = disabled, propagate
        logger.setLevel(logger_level)
        logger.handlers[:] = logger_handlers
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_state_change_is_logged_after_the_app_disabled_existing_loggers(
    restore_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    outputs = HealthOutputs()
    logging.config.dictConfig(
        {"version": 1, "handlers": {"c": {"class": "logging.NullHandler"}}, "root": {"handlers": ["c"]}}
    )
    logging.getLogger().addHandler(caplog.handler)
    assert logging.getLogger(LOGGER_NAME).disabled  # what dictConfig did
    outputs.on_result(CheckResult("db", "sql", Status.FAILING, "down", 0.1, 1, 2))
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME] == [
        "health check db is failing: down"
    ]


def test_a_logger_the_config_names_keeps_its_settings(
    restore_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    outputs = HealthOutputs()
    logging.config.dictConfig(
        {
            "version": 1,
            "handlers": {"c": {"class": "logging.NullHandler"}},
            "root": {"handlers": ["c"]},
            "loggers": {LOGGER_NAME: {"level": "CRITICAL"}},
        }
    )
    logging.getLogger().addHandler(caplog.handler)
    outputs.on_result(CheckResult("db", "sql", Status.FAILING, "down", 0.1, 1, 2))
    assert not [r for r in caplog.records if r.name == LOGGER_NAME]

"""An `extra` value that raises when read (an app's own container class, an object whose attribute
look-up raises) never raises into the logging call: it is exported as its repr, deferred or inline."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from otelbundle.sdk.export.report import DropReport
from otelbundle.sdk.logs import correlation
from otelbundle.sdk.logs.deferred import DeferredLogs, DeferredLogsProcessor
from otelbundle.sdk.logs.records import exportable


class BadMapping(Mapping[str, int]):
    def __getitem__(self, key: str) -> int:
        raise RuntimeError("getitem")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("iter")

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return "BadMapping()"


class BadSequence(Sequence[int]):
    def __getitem__(self, index: object) -> int:  # type: ignore[override]
        raise RuntimeError("getitem")

    def __len__(self) -> int:
        return 2

    def __repr__(self) -> str:
        return "BadSequence()"


class BadRequest:
    def __getattr__(self, name: str) -> object:
        raise RuntimeError("no attributes here")

    def __repr__(self) -> str:
        return "BadRequest()"


EXTRAS = {"mapping": BadMapping(), "sequence": BadSequence(), "request": BadRequest()}


def test_unreadable_containers_become_their_repr() -> None:
    assert exportable(BadMapping()) == "BadMapping()"
    assert exportable([BadSequence()]) == ["BadSequence()"]


@pytest.mark.parametrize("deferred", [True, False], ids=["deferred", "inline"])
def test_the_logging_call_does_not_raise_and_the_record_is_exported(deferred: bool) -> None:
    provider = LoggerProvider(shutdown_on_exit=False)
    exporter = InMemoryLogRecordExporter()
    capture = DeferredLogs(DropReport(endpoint="test"), capacity=10, interval=60.0)
    if deferred:
        provider.add_log_record_processor(DeferredLogsProcessor(capture))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    record_filter = correlation.record_filter(handler)
    if deferred:
        record_filter.defer_to(capture)
    logger = logging.getLogger(f"test.unreadable.{deferred}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    try:
        for name, value in EXTRAS.items():
            logger.warning("with %s", name, extra={name: value})  # must not raise
        provider.force_flush()
        exported = {
            str(r.log_record.body): dict(r.log_record.attributes or {}) for r in exporter.get_finished_logs()
        }
        assert exported == {f"with {name}": {name: repr(value)} for name, value in EXTRAS.items()}
    finally:
        logger.handlers[:] = []
        provider.shutdown()
        capture.close()

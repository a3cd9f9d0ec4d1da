"""force_flush exports what was queued when it was called: records that keep arriving meanwhile
(a busy service) do not keep it exporting until its deadline runs out."""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from otelbundle.sdk.export.log_batch import LogBatchProcessor
from otelbundle.sdk.export.report import DropReport


class WhileBusy(LogRecordExporter):
    """Each export takes a moment, during which the app logs one more record."""

    def __init__(self) -> None:
        self.provider: LoggerProvider | None = None
        self.exported: list[str] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.exported += [str(r.log_record.body) for r in batch]
        assert self.provider is not None
        self.provider.get_logger("app").emit(body="meanwhile")
        time.sleep(0.01)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_a_flush_ends_when_what_was_queued_at_the_call_is_exported() -> None:
    exporter = WhileBusy()
    env = {"OTEL_BLRP_SCHEDULE_DELAY": "600000", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "1"}
    processor = LogBatchProcessor(exporter, DropReport(endpoint="test"), env=env)
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(processor)
    exporter.provider = provider
    try:
        for i in range(3):
            provider.get_logger("app").emit(body=f"r{i}")
        started = time.monotonic()
        assert processor.force_flush(timeout_millis=3000)
        assert time.monotonic() - started < 1.5
        assert exporter.exported == ["r0", "r1", "r2"]
        assert processor.pending == 3  # what arrived meanwhile: the export thread's
    finally:
        provider.shutdown()  # records emitted during its last export are refused: it ends

"""What a scrub hook is told, and what the user learns when scrubbing fails.

docs/secrets.md promises the hook's ``where``: the attribute key (for nested values
too: in maps, lists and bytes), or ``span.name``, ``span.status.message``,
``span.event.name``, ``log.body``, ``log.event_name``. A hook that tells customers'
data apart by ``where`` depends on it. Mutation testing found that no test noticed
``where`` going missing for span names, log bodies, list items or bytes, a span
name being remembered as clean after it had been scrubbed, or failures counted as
"1" however many there were.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from otelbundle import scrub
from otelbundle.scrub import FAILED_MARKER, Scrubber, log_step, span_step
from otelbundle.sdk.export.wrapper import LOGS, SPANS, ExportWrapper, log_exporter, span_exporter


class Recorder:
    """A hook that keeps every (where, value) it is given and changes nothing."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, where: str, value: str) -> str:
        self.seen.append((where, value))
        return value


def _tracer(scrubber: Scrubber) -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider()
    out = InMemorySpanExporter()
    provider.add_span_processor(
        SimpleSpanProcessor(span_exporter(ExportWrapper(SPANS, out, prepare=span_step(scrubber))))
    )
    return provider, out


def _logger(scrubber: Scrubber) -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    provider = LoggerProvider(shutdown_on_exit=False)
    out = InMemoryLogRecordExporter()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(log_exporter(ExportWrapper(LOGS, out, prepare=log_step(scrubber))))
    )
    return provider, out


# ---- where the hook is told a value is ----


def test_the_hook_is_told_each_span_value_is_where_the_docs_say() -> None:
    hook = Recorder()
    provider, out = _tracer(Scrubber(hook=hook))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span(
        "GET /orders", attributes={"app.tags": ["a", "b"], "app.raw": b"raw"}
    ) as span:
        span.set_attributes({"db.system": "sqlite", "db.statement": "SELECT * FROM t WHERE id = 7"})
        span.add_event("retry", {"app.attempt": "second"})
        span.set_status(Status(StatusCode.ERROR, "timed out"))
    assert len(out.get_finished_spans()) == 1
    assert {
        ("span.name", "GET /orders"),
        ("app.tags", "a"),
        ("app.tags", "b"),
        ("app.raw", "raw"),
        ("span.event.name", "retry"),
        ("app.attempt", "second"),
        ("span.status.message", "timed out"),
        ("db.statement", "SELECT * FROM t WHERE id = ?"),  # after its literals are taken out
    } <= set(hook.seen), hook.seen


def test_the_hook_is_told_each_log_value_is_where_the_docs_say() -> None:
    hook = Recorder()
    provider, out = _logger(Scrubber(hook=hook))
    logger = provider.get_logger("t")
    logger.emit(body="order placed", event_name="order.placed", attributes={"app.ids": ("x", "y")})
    logger.emit(body={"note": "in a map", "raw": b"in bytes"})
    logger.emit(body=b"bytes body")
    logger.emit(body="q", attributes={"db.system": "sqlite", "db.query.text": ("SELECT 1",)})
    assert len(out.get_finished_logs()) == 4
    assert {
        ("log.body", "order placed"),
        ("log.event_name", "order.placed"),
        ("app.ids", "x"),
        ("app.ids", "y"),
        ("log.body", "in a map"),
        ("log.body", "in bytes"),
        ("log.body", "bytes body"),
        ("db.query.text", "SELECT 1"),
    } <= set(hook.seen), hook.seen


def test_a_hooks_change_to_a_list_item_or_bytes_reaches_the_exporter() -> None:
    def hook(where: str, value: str) -> str:
        return value.replace("CUSTOMER-7", "CUSTOMER-?") if where == "app.customers" else value

    provider, out = _tracer(Scrubber(hook=hook))
    with provider.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("app.customers", ["CUSTOMER-7", "CUSTOMER-8"])
        span.set_attribute("app.other", ["CUSTOMER-7"])
    (exported,) = out.get_finished_spans()
    assert exported.attributes == {
        "app.customers": ("CUSTOMER-?", "CUSTOMER-8"),
        "app.other": ("CUSTOMER-7",),
    }


# ---- values the shortcuts do not cover ----


def test_a_value_with_more_credentials_than_the_shortcut_counts_is_scrubbed_in_full() -> None:
    """Past a few dozen rule literals in one value every rule runs on it; none is skipped."""
    query = "&".join(f"token=s3cr3t{i}" for i in range(40))
    scrubber = Scrubber()
    assert scrubber.text(query, "url.query") == "&".join(["token=REDACTED"] * 40)
    assert scrubber.stats.failed_values == 0


# ---- span names seen again ----


def test_a_span_name_with_a_secret_is_scrubbed_every_time_it_ends() -> None:
    """Names are remembered as clean only when nothing in them changed."""
    provider, out = _tracer(Scrubber())
    tracer = provider.get_tracer("t")
    for _ in range(3):
        with tracer.start_as_current_span("GET /x?token=abc"):
            pass
    assert [span.name for span in out.get_finished_spans()] == ["GET /x?token=REDACTED"] * 3


def test_the_hook_sees_a_span_name_each_time_it_ends() -> None:
    def hook(where: str, value: str) -> str:
        seen.append((where, value))
        return value.replace("internal", "REDACTED")

    seen: list[tuple[str, str]] = []
    provider, out = _tracer(Scrubber(hook=hook))
    tracer = provider.get_tracer("t")
    for _ in range(3):
        with tracer.start_as_current_span("GET /"):
            pass
    with tracer.start_as_current_span("GET internal"):
        pass
    assert [where_value for where_value in seen if where_value[0] == "span.name"] == [
        ("span.name", "GET /"),
    ] * 3 + [("span.name", "GET internal")]
    assert out.get_finished_spans()[-1].name == "GET REDACTED"


# ---- failures: counted one by one, described, never raised ----


def test_every_failed_value_and_dropped_record_is_counted_and_in_the_summary() -> None:
    def hook(where: str, value: str) -> str:
        raise RuntimeError(f"no {where}")

    failures: list[str] = []
    scrubber = Scrubber(hook=hook, on_failure=failures.append)
    assert scrubber.attributes({"app.a": "x", "app.b": "y", "app.c": "z"}) == {
        "app.a": FAILED_MARKER,
        "app.b": FAILED_MARKER,
        "app.c": FAILED_MARKER,
    }
    scrubber.record_dropped("span 'a' not exported: KeyError: x")
    scrubber.record_dropped("span 'b' not exported: KeyError: y")
    assert (scrubber.stats.failed_values, scrubber.stats.dropped_records) == (3, 2)
    assert failures == [
        "app.a: RuntimeError: no app.a",
        "app.b: RuntimeError: no app.b",
        "app.c: RuntimeError: no app.c",
        "span 'a' not exported: KeyError: x",
        "span 'b' not exported: KeyError: y",
    ]
    assert scrubber.summary() == (
        "otelbundle: scrubbing failed for 3 values (replaced by 'REDACTED (scrubbing failed)') "
        "and 2 records (not exported)."
    )


def test_a_failure_report_that_raises_does_not_reach_the_exporter() -> None:
    def report(what: str) -> None:
        raise OSError("stderr closed")

    def hook(where: str, value: str) -> str:
        raise RuntimeError("boom")

    scrubber = Scrubber(hook=hook, on_failure=report)
    assert scrubber.text("K3Y-SECRET", "app.note") == FAILED_MARKER
    scrubber.record_dropped("a log record not exported")
    assert (scrubber.stats.failed_values, scrubber.stats.dropped_records) == (1, 1)


def test_bytes_a_hook_turns_into_something_not_encodable_become_the_marker_and_are_described() -> None:
    failures: list[str] = []
    scrubber = Scrubber(hook=lambda where, value: "\ud800" + value, on_failure=failures.append)
    changed: dict[str, Any] | None = scrubber.attributes({"app.raw": b"payload"})
    assert changed == {"app.raw": FAILED_MARKER.encode()}
    assert scrubber.stats.failed_values == 1
    assert len(failures) == 1 and failures[0].startswith("app.raw: UnicodeEncodeError: "), failures


# ---- a hook that returns something other than a str ----


def test_a_hook_returning_none_leaves_the_rules_result_and_is_reported_once() -> None:
    """A hook without `return` on some path returned None: every value used to become "None"."""
    failures: list[str] = []
    scrubber = Scrubber(hook=lambda where, value: None, on_failure=failures.append)  # type: ignore[arg-type,return-value]
    assert scrubber.text("https://h/x?token=abc&page=2", "url.full") == "https://h/x?token=REDACTED&page=2"
    assert scrubber.attributes({"app.note": "hello", "app.raw": b"token=abc"}) == {
        "app.note": "hello",
        "app.raw": b"token=REDACTED",
    }
    assert scrubber.body(["GET /users/42"]) == ["GET /users/42"]
    assert failures == [
        "the scrub hook returned NoneType for 'url.full', not a str: its result is ignored and the value "
        "is exported as the built-in rules left it (said once; a hook must return the value, changed or not)"
    ]
    assert (scrubber.stats.failed_values, scrubber.stats.hook_results_ignored) == (0, 4)
    assert scrubber.summary() == (
        "otelbundle: the scrub hook returned something other than a str for 4 values "
        "(exported as the built-in rules left them)."
    )


def test_a_hook_returning_bytes_for_some_values_keeps_its_str_results_for_the_others() -> None:
    def hook(where: str, value: str) -> str:
        return value.encode() if where == "app.raw" else value.replace("CUST-7", "CUST-?")  # type: ignore[return-value]

    failures: list[str] = []
    scrubber = Scrubber(hook=hook, on_failure=failures.append)
    assert scrubber.attributes({"app.raw": "CUST-7", "app.id": "CUST-7"}) == {
        "app.raw": "CUST-7",
        "app.id": "CUST-?",
    }
    assert len(failures) == 1 and failures[0].startswith(
        "the scrub hook returned bytes for 'app.raw', not a str"
    )


def test_the_hooks_defect_is_said_once_on_stderr_and_in_the_summary_at_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not as a scrubbing failure: no value was replaced by the failure marker."""
    scrub.set_hook(lambda where, value: None)  # type: ignore[arg-type,return-value]
    try:
        scrubber = scrub.build_scrubber(scrub.ScrubSettings())
    finally:
        scrub.set_hook(None)
    assert scrubber is not None
    provider, out = _tracer(scrubber)
    for _ in range(3):
        with provider.get_tracer("t").start_as_current_span("GET /x?token=abc"):
            pass
    provider.shutdown()
    assert [span.name for span in out.get_finished_spans()] == ["GET /x?token=REDACTED"] * 3
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert err[0].startswith(
        "WARNING otelbundle: the scrub hook returned NoneType for 'span.name', not a str: "
    )
    # the span names and the resource's attributes (the hook runs on those too)
    assert re.fullmatch(
        r"WARNING otelbundle: the scrub hook returned something other than a str for \d+ values "
        r"\(exported as the built-in rules left them\)\.",
        err[1],
    ), err

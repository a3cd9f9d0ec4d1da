"""The examples under gunicorn, started with the helpers the integration tests use.

Under gunicorn no ``__main__`` block runs, so this is also the proof that the
examples' INFO records are exported from pre-fork workers, joined to their trace.
(It starts gunicorn, so it is an integration test; it was in tests/unit/harness.)
"""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, http_json, start_examples
from harness.otlp_receiver import OtlpReceiver, SpanRecord


def test_examples_under_gunicorn_give_one_trace_with_info_logs(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    services = start_examples(clean_env(otlp_receiver.env()), tmp_path, workers=2)
    try:
        status, body = http_json("POST", f"{services.storefront_url}/checkout", {"sku": "PEAR", "qty": 2})
        assert (status, body["status"]) == (200, "confirmed")

        def checkout_trace(rx: OtlpReceiver) -> list[SpanRecord] | None:
            root = next(iter(rx.spans_named("POST /checkout")), None)
            spans = rx.spans_in_trace(root.trace_id) if root else []
            return spans if {s.service for s in spans} == {"storefront", "inventory"} else None

        trace_id = otlp_receiver.wait_for(checkout_trace)[0].trace_id

        # Spans and log records leave each process in batches of their own: a record can
        # arrive before the span it was logged in. So wait until each record's span is there
        # too; a record joined to a span that never comes fails here.
        def logs_in_their_spans(rx: OtlpReceiver) -> bool:
            records = rx.logs_in_trace(trace_id)
            span_ids = {s.span_id for s in rx.spans_in_trace(trace_id)}
            bodies = {str(r.body) for r in records}
            return bodies >= {"checkout of 2 x PEAR", "reserved 2 x PEAR"} and all(
                r.span_id in span_ids for r in records
            )

        try:
            otlp_receiver.wait_for(logs_in_their_spans)
        except AssertionError as exc:
            spans = {s.span_id: s.name for s in otlp_receiver.spans_in_trace(trace_id)}
            records = [(str(r.body), r.span_id) for r in otlp_receiver.logs_in_trace(trace_id)]
            raise AssertionError(f"{exc}\nspans {spans}\nrecords {records}") from None
    finally:
        services.stop()
    assert (services.storefront.exit_code, services.inventory.exit_code) == (0, 0)
    assert "Booting worker" in services.inventory.output  # gunicorn's own output was captured

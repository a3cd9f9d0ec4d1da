"""The subprocess helpers the integration tests start the examples with.

Under gunicorn no ``__main__`` block runs, so this is also the proof that the
examples' INFO records are exported from pre-fork workers, joined to their trace.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.apps import clean_env, http_json, start_examples
from tests.harness.otlp_receiver import OtlpReceiver, SpanRecord


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

        spans = otlp_receiver.wait_for(checkout_trace)
        trace_id = spans[0].trace_id
        logs = otlp_receiver.wait_for(
            lambda rx: (
                {str(r.body) for r in rx.logs_in_trace(trace_id)}
                >= {"checkout of 2 x PEAR", "reserved 2 x PEAR"}
            )
        )
        assert logs
        span_ids = {s.span_id for s in spans}
        assert all(r.span_id in span_ids for r in otlp_receiver.logs_in_trace(trace_id))
    finally:
        services.stop()
    assert (services.storefront.exit_code, services.inventory.exit_code) == (0, 0)
    assert "Booting worker" in services.inventory.output  # gunicorn's own output was captured

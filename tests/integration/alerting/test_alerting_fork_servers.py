"""Alert rules under a pre-fork server: the wrapper configures the master, and every
worker must evaluate the spans it serves on threads of its own (threads do not survive fork)."""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.apps import BIN, clean_env, free_port, start
from harness.http_sink import Sink
from harness.otlp_receiver import OtlpReceiver

RULES = """
groups:
  - name: inventory
    interval: 200ms
    rules:
      - alert: ReserveFailing
        spans: {service: inventory, kind: server, name: "POST /reserve"}
        expr: error_count > 0
        labels: {severity: critical}
"""


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_gunicorn_workers_fire_alerts_from_the_spans_they_serve(
    otlp_receiver: OtlpReceiver, sink: Sink, tmp_path: Path, preload: bool
) -> None:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    (tmp_path / "otelbundle.yaml").write_text(
        f"alerting:\n  rule_files: [rules.yaml]\n  notify:\n    webhook: {{url: '{sink.url}/hook'}}\n"
    )
    port = free_port()
    args = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}"]
    args += ["--preload"] if preload else []
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "inventory",
            "INVENTORY_DB": str(tmp_path / "inv.db"),
            "OTELBUNDLE_CONFIG": str(tmp_path / "otelbundle.yaml"),
        }
    )
    server = start([*args, "examples.inventory.app:app"], env, tmp_path, name="gunicorn")
    try:
        server.wait_http(f"http://127.0.0.1:{port}/healthz")
        for _ in range(6):  # new connections: both workers get some
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/reserve?fail=1",
                data=json.dumps({"sku": "A-1", "qty": 1}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with pytest.raises(urllib.error.HTTPError) as failed:
                urllib.request.urlopen(request, timeout=5)
            assert failed.value.code == 500
        assert sink.received.wait(15), f"no alert reached the webhook\n{server.output}"
        path, _, body = sink.requests[0]
        assert path == "/hook" and body["status"] == "firing"
        assert body["alerts"][0]["labels"]["alertname"] == "ReserveFailing"
        assert body["alerts"][0]["annotations"]["trace_ids"]  # an exemplar from the worker's spans
        assert "could not restart after fork" not in server.output
    finally:
        server.stop()

"""Named webhook channels with matchers, from otelbundle.yaml to real HTTP receivers: each gets exactly its alerts."""

from __future__ import annotations

import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from harness.http_sink import Sink
from otelbundle.alerting.manager import start_alerting
from otelbundle.alerting.section import load_alerting_config

RULES = """
groups:
  - name: shop
    interval: 1h              # no tick during the test: alerts go out between ticks
    rules:
      - alert: CheckoutFails
        spans: {service: shop, name: "POST /checkout"}
        expr: error_count > 0
        labels: {severity: critical}
      - alert: SearchFails
        spans: {service: shop, name: "GET /search"}
        expr: error_count > 0
        labels: {severity: warning}
      - alert: Nobody
        spans: {service: shop, name: "GET /nobody"}
        expr: error_count > 0
        labels: {severity: info}
"""


def test_two_routed_webhooks_receive_exactly_their_alerts(tmp_path: Path) -> None:
    pager, chat = Sink(), Sink()
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [rules.yaml]\n  notify:\n    webhook:\n"
        f"      - {{name: pager, url: '{pager.url}/pager', match: ['severity=\"critical\"']}}\n"
        f"      - {{name: chat, url: '{chat.url}/chat', match: ['severity=~\"warning|critical\"']}}\n"
    )
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    manager = start_alerting(config, {})
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(manager.processor)
    try:
        tracer = provider.get_tracer("t")
        for name in ("POST /checkout", "GET /search", "GET /nobody"):
            with tracer.start_as_current_span(name, kind=SpanKind.SERVER) as span:
                span.set_status(StatusCode.ERROR)
        deadline = time.monotonic() + 10
        while (len(pager.requests) < 1 or len(chat.requests) < 2) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # anything sent by mistake arrives meanwhile
        assert manager.dispatcher.flush(5)
    finally:
        manager.shutdown()
        pager.close()
        chat.close()

    def received(sink: Sink) -> list[tuple[str, str, str]]:
        return sorted(
            (body["receiver"], alert["labels"]["alertname"], alert["status"])
            for _, _, body in sink.requests
            for alert in body["alerts"]
        )

    assert received(pager) == [("pager", "CheckoutFails", "firing")]
    assert received(chat) == [("chat", "CheckoutFails", "firing"), ("chat", "SearchFails", "firing")]
    assert manager.dispatcher.unrouted == 1  # Nobody: severity=info matches no channel


def test_a_resolution_reaches_a_webhook_once_while_pagerduty_gets_the_engine_re_sends(tmp_path: Path) -> None:
    """The engine re-sends a resolved alert every resend_delay (here 100ms) for 15 minutes;
    a pagerduty channel with repeat_interval: 0s gets each."""
    hook, pager = Sink(), Sink()
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: g\n    interval: 100ms\n    rules:\n      - alert: CheckoutFails\n"
        '        spans: {service: shop, name: "POST /checkout"}\n        expr: error_count > 0\n'
        "        window: 300ms\n"
    )
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [rules.yaml]\n  resend_delay: 100ms\n  notify:\n"
        f"    webhook: {{url: '{hook.url}/hook'}}\n"
        # 0s: every re-send (the default, 4h, would hold them back as Alertmanager's does)
        f"    pagerduty: {{routing_key: k, url: '{pager.url}/pd', repeat_interval: 0s}}\n"
    )
    config = load_alerting_config(str(tmp_path / "otelbundle.yaml"), {})
    assert config is not None
    manager = start_alerting(config, {})
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(manager.processor)
    try:
        with provider.get_tracer("t").start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as span:
            span.set_status(StatusCode.ERROR)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            resolves = [b for _, _, b in pager.requests if b["event_action"] == "resolve"]
            if len(resolves) >= 4:  # the engine has re-sent the resolution a few times
                break
            time.sleep(0.05)
        assert manager.dispatcher.flush(5)
    finally:
        manager.shutdown()
        hook.close()
        pager.close()
    statuses = [alert["status"] for _, _, body in hook.requests for alert in body["alerts"]]
    assert len(resolves) >= 4
    assert statuses[-1] == "resolved" and statuses.count("resolved") == 1, statuses

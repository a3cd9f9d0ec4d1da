"""The two example services under opentelemetry-instrument, observed at an OTLP receiver.

One checkout must be one trace across two processes with correct parent links,
its log lines must carry that trace's ids natively, and metrics (HTTP and
system/process) must arrive — all with no telemetry code in the apps.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from harness.apps import ExampleServices, clean_env, start_examples
from harness.otlp_receiver import OtlpReceiver

SERVER, CLIENT = 2, 3  # OTLP SpanKind values


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    rx = OtlpReceiver().start()
    yield rx
    rx.stop()


@pytest.fixture(scope="module")
def services(receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServices]:
    running = start_examples(clean_env(receiver.env()), tmp_path_factory.mktemp("examples"))
    yield running
    running.stop()


def post(url: str, body: dict[str, object], traceparent: str | None = None) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if traceparent:
        request.add_header("traceparent", traceparent)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_one_checkout_is_one_trace_across_both_services(
    receiver: OtlpReceiver, services: ExampleServices
) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    assert (
        post(
            f"{services.storefront_url}/checkout",
            {"sku": "APPLE", "qty": 1},
            f"00-{trace_id}-{caller_span}-01",
        )
        == 200
    )

    def complete(rx: OtlpReceiver) -> list[object] | None:
        spans = [s for s in rx.spans if s.trace_id == trace_id]
        kinds = {(s.service, s.kind) for s in spans}
        return (
            spans
            if {("storefront", SERVER), ("storefront", CLIENT), ("inventory", SERVER)} <= kinds
            else None
        )

    spans = receiver.wait_for(complete)
    by_kind = {(s.service, s.kind): s for s in spans}  # type: ignore[attr-defined]
    front_server = by_kind[("storefront", SERVER)]
    front_client = by_kind[("storefront", CLIENT)]
    inventory_server = by_kind[("inventory", SERVER)]
    assert front_server.parent_span_id == caller_span  # continued the caller's W3C traceparent
    assert front_client.parent_span_id == front_server.span_id
    assert inventory_server.parent_span_id == front_client.span_id  # propagated over HTTP
    assert inventory_server.name.startswith("POST")
    sql = [s for s in spans if s.service == "inventory" and s.kind == CLIENT]  # type: ignore[attr-defined]
    assert sql, "the sqlite3 instrumentation should trace the UPDATE"


def test_logs_carry_the_native_ids_of_their_span(receiver: OtlpReceiver, services: ExampleServices) -> None:
    trace_id = secrets.token_hex(16)
    post(
        f"{services.storefront_url}/checkout",
        {"sku": "PEAR", "qty": 1},
        f"00-{trace_id}-{secrets.token_hex(8)}-01",
    )
    record = receiver.wait_for(
        lambda rx: next(
            (r for r in rx.logs if r.body == "checkout of 1 x PEAR" and r.trace_id == trace_id), None
        )
    )
    server = receiver.wait_for(
        lambda rx: next(
            (
                s
                for s in rx.spans
                if s.trace_id == trace_id and s.kind == SERVER and s.service == "storefront"
            ),
            None,
        )
    )
    assert record.span_id == server.span_id
    assert record.flags & 0x01 == 0x01  # sampled flag carried
    assert record.severity_text == "INFO"
    assert record.service == "storefront"
    assert not {k for k in record.attributes if k.startswith("otel")}, record.attributes
    inventory_line = receiver.wait_for(
        lambda rx: next(
            (r for r in rx.logs if r.body == "reserved 1 x PEAR" and r.trace_id == trace_id), None
        )
    )
    assert inventory_line.service == "inventory"


def test_exception_is_exported_with_type_message_and_stack(
    receiver: OtlpReceiver, services: ExampleServices
) -> None:
    trace_id = secrets.token_hex(16)
    status = post(
        f"{services.storefront_url}/checkout",
        {"sku": "FAIL", "qty": 1},
        f"00-{trace_id}-{secrets.token_hex(8)}-01",
    )
    assert status == 502
    front = receiver.wait_for(
        lambda rx: next(
            (
                r
                for r in rx.logs
                if r.trace_id == trace_id and r.service == "storefront" and r.severity_text == "ERROR"
            ),
            None,
        )
    )
    assert front.attributes["exception.type"] == "HTTPError"
    assert "500" in str(front.attributes["exception.message"])
    assert "Traceback" in str(front.attributes["exception.stacktrace"])
    back = receiver.wait_for(
        lambda rx: next(
            (
                r
                for r in rx.logs
                if r.trace_id == trace_id and r.service == "inventory" and r.severity_text == "ERROR"
            ),
            None,
        )
    )
    assert back.attributes["exception.type"] == "OperationalError"

    def both_error_spans(rx: OtlpReceiver) -> set[str] | None:
        # The two services export independently: wait for both, not the first to arrive.
        services = {
            s.service for s in rx.spans if s.trace_id == trace_id and s.kind == SERVER and s.status_code == 2
        }
        return services if services == {"storefront", "inventory"} else None

    assert receiver.wait_for(both_error_spans) == {"storefront", "inventory"}


def test_http_and_system_metrics_arrive(receiver: OtlpReceiver, services: ExampleServices) -> None:
    for _ in range(3):
        post(f"{services.storefront_url}/checkout", {"sku": "APPLE", "qty": 1})
    wanted = {"process.cpu.utilization", "process.memory.usage", "system.memory.usage"}

    def arrived(rx: OtlpReceiver) -> set[str] | None:
        names = rx.metric_names("storefront")
        return names if wanted <= names and any(m.startswith("http.server") for m in names) else None

    names = receiver.wait_for(arrived)
    assert not any(n.startswith("process.runtime.") for n in names), (
        "deprecated duplicates are excluded by default"
    )
    assert "system.network.connections" not in names


def test_resource_identifies_distro_process_and_instance(
    receiver: OtlpReceiver, services: ExampleServices
) -> None:
    span = receiver.wait_for(lambda rx: next((s for s in rx.spans if s.service == "storefront"), None))
    resource = span.resource
    assert resource["telemetry.distro.name"] == "otelbundle"
    assert resource["service.instance.id"]
    assert "host.name" in resource and "process.pid" in resource and "os.type" in resource
    other = receiver.wait_for(lambda rx: next((s for s in rx.spans if s.service == "inventory"), None))
    assert other.resource["service.instance.id"] != resource["service.instance.id"]

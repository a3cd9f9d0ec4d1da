"""The in-process scrubber, end to end without a collector: app -> exporters -> an OTLP receiver."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.apps import clean_env, run
from harness.collector import shipped_processors
from harness.leaks import (
    KEPT_IN_LOGS,
    KEPT_IN_TRACES,
    PROGRAM,
    env_for,
    leaked_in,
    make_secrets,
    missing_from,
)
from harness.otlp_receiver import OtlpReceiver


def _run(receiver: OtlpReceiver, leaked: dict[str, str], **extra: str) -> tuple[str, str]:
    """Run the leaking program; (text of every span received, text of every log record received)."""
    env = clean_env({**receiver.env(), **env_for(leaked), "OTEL_METRICS_EXPORTER": "none", **extra})
    result = run(["python", str(PROGRAM)], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    trace_id = result.stdout.split("TRACE ", 1)[1].split()[0]
    spans = receiver.wait_for(lambda rx: len(found := rx.spans_in_trace(trace_id)) >= 8 and found)
    receiver.wait_for(lambda rx: any("issued jwt" in str(r.body) for r in rx.logs))
    return "\n".join(repr(s) for s in spans), "\n".join(repr(r) for r in receiver.logs)


def test_no_secret_leaves_the_process_and_every_name_stays(otlp_receiver: OtlpReceiver) -> None:
    leaked = make_secrets()
    spans, logs = _run(otlp_receiver, leaked)
    assert not leaked_in(spans, leaked), f"secrets exported in spans: {leaked_in(spans, leaked)}\n{spans}"
    assert not leaked_in(logs, leaked), f"secrets exported in log records: {leaked_in(logs, leaked)}\n{logs}"
    assert not missing_from(spans, KEPT_IN_TRACES), f"lost from spans: {missing_from(spans, KEPT_IN_TRACES)}"
    assert not missing_from(logs, KEPT_IN_LOGS), f"lost from logs: {missing_from(logs, KEPT_IN_LOGS)}"
    # The places the secrets were in are still there, scrubbed: captured headers, the exception event.
    assert "'http.request.header.authorization': '****'" in spans
    assert "'exception.message': '401 Client Error: UNAUTHORIZED for url:" in spans


def test_scrubbing_off_exports_the_secrets(otlp_receiver: OtlpReceiver) -> None:
    """OTELBUNDLE_SCRUB=false: the same program leaks (and the first test is not passing by accident)."""
    leaked = make_secrets()
    spans, logs = _run(otlp_receiver, leaked, OTELBUNDLE_SCRUB="false")
    assert {"api_key", "token", "access_token", "sql_literal"} <= set(leaked_in(spans, leaked))
    assert {"password", "jwt", "aws_key", "github"} <= set(leaked_in(logs, leaked))


def test_otelbundle_yaml_extends_the_rules(otlp_receiver: OtlpReceiver, tmp_path: Path) -> None:
    config = tmp_path / "otelbundle.yaml"
    config.write_text(
        "scrub:\n"
        "  extra_param_names: [fields]\n"
        "  extra_patterns: ['(profile call to )http']\n"
        "  allowed_keys: [http.request.header.x_api_key]\n"
    )
    leaked = make_secrets()
    spans, logs = _run(otlp_receiver, leaked, OTELBUNDLE_CONFIG=str(config))
    assert "fields=REDACTED" in spans and "fields=name" not in spans
    assert "profile call to REDACTED://" in logs
    # allowed_keys: this header is exported as it was, on the user's say-so.
    assert leaked_in(spans, leaked) == {"x_api_key": leaked["x_api_key"]}
    assert not leaked_in(logs, leaked)


# ---- the places a secret used to leak through (tests/integration/programs/secrets_in_structures.py) ----

STRUCTURES = Path(__file__).resolve().parent / "programs" / "secrets_in_structures.py"
# What the collector cannot reach: values nested in a log attribute's map or list, bytes, and
# the strings of an array attribute (AR: a span's)
# (docs/secrets.md, "What is not covered"). Only the in-process scrubber takes them out.
NOT_IN_THE_COLLECTOR = {"NP", "NL", "ND", "BY", "LBB", "AR"}
# Vendor keys, a Slack webhook, an Azure AccountKey, a Cookie header in text, a URL fragment.
VENDOR_TAGS = {"GL", "ST", "GO", "NM", "PY", "SG", "OA", "AN", "XA", "SL", "AZ", "CK", "FR"}


class WireReceiver(OtlpReceiver):
    """Also keeps every export request as protobuf text: scope attributes, event names, bytes and all."""

    def __init__(self) -> None:
        super().__init__()
        self.wire: list[str] = []

    def _store(self, info: Any, request: Any) -> None:
        self.wire.append(str(request))
        super()._store(info, request)


def _leaked_tags(wire: str, secret: str) -> set[str]:
    """The tags (which place) of every copy of ``secret`` in ``wire``."""
    return {match.group(1) for match in re.finditer(r"([A-Z]{2,3})" + secret, wire)} | (
        {"untagged"} if re.search(r"(?<![A-Z])" + secret, wire) else set()
    )


def _token_count_kept(wire: str) -> bool:
    return re.search(r'key: "gen_ai.usage.input_tokens"\s*value \{\s*int_value: 42\s', wire) is not None


def _run_structures(receiver: WireReceiver, endpoint: str, **extra: str) -> tuple[str, str]:
    """Run the program; (the secret, the text of every request that reached ``receiver``)."""
    secret = secrets.token_hex(10)
    env = clean_env(
        {
            **receiver.env(),
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "SECRET": secret,
            "OTEL_SERVICE_NAME": "structures-app",
            "OTEL_METRICS_EXPORTER": "none",  # metrics: test_metrics_leave_the_process_scrubbed
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "proxy-authorization",
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST": "proxy-authorization",
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE": "set-cookie",
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE": "set-cookie",
            **extra,
        }
    )
    result = run(["python", str(STRUCTURES)], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    trace_id = result.stdout.split("TRACE ", 1)[1].split()[0]
    receiver.wait_for(lambda rx: len(rx.spans_in_trace(trace_id)) >= 3)
    receiver.wait_for(lambda rx: any("apiKey" in str(r.body) for r in rx.logs))
    receiver.wait_for(lambda rx: any("Host: shop" in str(r.body) for r in rx.logs))  # the last line
    receiver.wait_for(lambda rx: any(r.event_name.startswith("login") for r in rx.logs))
    return secret, "\n".join(receiver.wire)


@pytest.fixture
def wire_receiver() -> Iterator[WireReceiver]:
    receiver = WireReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


def test_secrets_in_headers_structures_bytes_scopes_and_event_names_do_not_leave_the_process(
    wire_receiver: WireReceiver,
) -> None:
    secret, wire = _run_structures(wire_receiver, wire_receiver.http_endpoint)
    assert not _leaked_tags(wire, secret), f"leaked: {_leaked_tags(wire, secret)}"
    # Each place is still there, only its secret gone.
    for kept in (
        'key: "http.request.header.proxy_authorization"',
        'key: "http.response.header.set_cookie"',
        'string_value: "postgresql://REDACTED@db/shop"',
        "?api_key=REDACTED&page=2",
        'PASSWORD \\"REDACTED\\"',
        'string_value: "bob"',
        'bytes_value: "password=REDACTED"',
        'event_name: "login?token=REDACTED"',
        "AWS_SECRET_ACCESS_KEY=REDACTED loaded",
        '\\"apiKey\\": \\"REDACTED\\"',
    ):
        assert kept in wire, kept
    assert _token_count_kept(wire)  # named like a token, but a count: not masked


def test_scrubbing_off_the_same_program_leaks_everywhere(wire_receiver: WireReceiver) -> None:
    """The first test is not passing by accident: without scrubbing every tagged place arrives."""
    secret, wire = _run_structures(wire_receiver, wire_receiver.http_endpoint, OTELBUNDLE_SCRUB="false")
    assert _leaked_tags(wire, secret) >= {
        "PA",
        "SC",
        "SA",
        "AT",
        "EV",
        "SQ",
        *NOT_IN_THE_COLLECTOR,
        "EN",
        "AK",
        *VENDOR_TAGS,
    }


@pytest.fixture
def collector(tmp_path: Path, wire_receiver: WireReceiver) -> Iterator[str]:
    """Our collector with the shipped scrubbing processors, unchanged: OTLP/HTTP in, the receiver out."""
    scrubbing = ("redaction", "redaction/sql", "transform/scrub")
    with shipped_processors(tmp_path, scrubbing, ("traces", "logs"), wire_receiver.http_endpoint) as url:
        yield url


def test_the_collector_scrubs_the_same_places_but_nested_log_attributes_and_bytes(
    wire_receiver: WireReceiver, collector: str
) -> None:
    """The Go regexes behave as the Python ones (tests/unit/scrub/test_collector_parity.py checks the text)."""
    secret, wire = _run_structures(wire_receiver, collector, OTELBUNDLE_SCRUB="false")
    assert _leaked_tags(wire, secret) == NOT_IN_THE_COLLECTOR
    assert _token_count_kept(wire)
    assert 'event_name: "login?token=REDACTED"' in wire


# ---- metrics (tests/integration/programs/secrets_in_metrics.py) ----

METRICS_PROGRAM = Path(__file__).resolve().parent / "programs" / "secrets_in_metrics.py"


def _run_metrics(receiver: WireReceiver, **extra: str) -> tuple[str, str]:
    secret = secrets.token_hex(10)
    env = clean_env(
        {
            **receiver.env(),
            "SECRET": secret,
            "OTEL_SERVICE_NAME": "metrics-app",
            "OTEL_RESOURCE_ATTRIBUTES": f"deployment.db=postgresql://app:MR{secret}@db/shop",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            **extra,
        }
    )
    result = run(["python", str(METRICS_PROGRAM)], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    receiver.wait_for(lambda rx: len(rx.points_named("app.calls")) >= 2)
    return secret, "\n".join(receiver.wire)


def test_metrics_leave_the_process_scrubbed(wire_receiver: WireReceiver) -> None:
    """Metrics go through the fork-safe reader, not the span and log path: scrubbed there too,
    the resource (every attribute of it becomes a Prometheus label) as well."""
    secret, wire = _run_metrics(wire_receiver)
    assert not _leaked_tags(wire, secret), f"leaked: {_leaked_tags(wire, secret)}"
    for kept in ("?api_key=REDACTED&page=2", "postgresql://REDACTED@db/shop", 'string_value: "/v2"'):
        assert kept in wire, kept


def test_metrics_with_scrubbing_off_carry_the_secrets(wire_receiver: WireReceiver) -> None:
    secret, wire = _run_metrics(wire_receiver, OTELBUNDLE_SCRUB="false")
    assert _leaked_tags(wire, secret) >= {"MU", "MH", "MR"}


def test_the_collector_alone_keeps_the_secrets_apps_secrets_and_private_key_out(
    wire_receiver: WireReceiver, collector: str
) -> None:
    """The same leaking program as the first test, scrubbing off in the process: the shipped
    collector's rules alone (RE2, not Python's re) take every secret out, the PEM key included."""
    leaked = make_secrets()
    env = clean_env(
        {
            **wire_receiver.env(),
            **env_for(leaked),
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
            "OTEL_METRICS_EXPORTER": "none",
            "OTELBUNDLE_SCRUB": "false",
        }
    )
    result = run(["python", str(PROGRAM)], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert leaked["pem_key_line1"] in result.stdout + result.stderr  # its own console shows it
    trace_id = result.stdout.split("TRACE ", 1)[1].split()[0]
    wire_receiver.wait_for(lambda rx: len(rx.spans_in_trace(trace_id)) >= 8)
    wire_receiver.wait_for(lambda rx: any("TLS reload failed" in str(r.body) for r in rx.logs))
    wire = "\n".join(wire_receiver.wire)
    assert not leaked_in(wire, leaked), f"secrets past the collector: {leaked_in(wire, leaked)}"
    bodies = [str(record.body) for record in wire_receiver.logs]
    assert "TLS reload failed; config was {'cert_file': '/etc/tls/tls.crt', 'key_pem': 'REDACTED'}" in bodies
    assert 'key: "tls.key_pem"' in wire and 'string_value: "REDACTED"' in wire

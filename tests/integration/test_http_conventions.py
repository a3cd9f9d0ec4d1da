"""The distro's HTTP conventions: the stable names alert rules and the docs use, and HTTP metrics
whose labels no client chooses."""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "http_host_headers.py")


def test_spans_carry_the_stable_names_and_the_duration_metric_one_series(otlp_receiver: OtlpReceiver) -> None:
    """20 requests with 20 Host headers: the old conventions' http.server.duration had a series per
    Host header (http.host, net.host.name), without bound; the stable metric has one."""
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "hosts-app", "OTEL_LOGS_EXPORTER": "none"})
    result = run(["python", PROGRAM], env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    spans = otlp_receiver.wait_for(lambda rx: len(found := rx.spans_named("POST /checkout")) >= 20 and found)
    assert {
        (s.attributes["http.request.method"], s.attributes["http.response.status_code"]) for s in spans
    } == {("POST", 500)}
    points = otlp_receiver.wait_for(lambda rx: rx.points_named("http.server.request.duration", "hosts-app"))
    series = {tuple(sorted(p.attributes.items())) for p in points}
    assert len(series) == 1, series
    (labels,) = series
    assert {k: v for k, v in labels if k.startswith("http.")} == {
        "http.request.method": "POST",
        "http.response.status_code": 500,
        "http.route": "/checkout",
    }
    assert not {k for k, _ in labels} & {"http.host", "net.host.name", "server.address", "server.port"}
    assert not otlp_receiver.points_named("http.server.duration", "hosts-app")

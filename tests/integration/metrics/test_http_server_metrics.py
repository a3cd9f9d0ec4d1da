"""The HTTP server metrics a Flask app exports with otelbundle's defaults, read as Prometheus
will store them: one series per route template (not per raw path), the stable name in seconds
with the semantic conventions' buckets, cumulative, and no old-convention duplicate.

The Python SDK (1.45) has no cardinality limit: every attribute set an instrument sees is kept
for the life of the process. The HTTP metrics stay bounded only because their attributes are
the route template, the method (unknown ones are ``_OTHER``), the status and the scheme.
"""

from __future__ import annotations

from pathlib import Path

from harness.apps import clean_env, run
from harness.otlp_receiver import MetricPoint, OtlpReceiver

PROGRAM = str(Path(__file__).parent / "programs" / "distinct_paths.py")
PATHS = 5_000  # of each kind: 10 000 distinct raw paths in all
DURATION = "http.server.request.duration"
# The semantic conventions' advisory buckets for http.server.request.duration, in seconds.
SEMCONV_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
CUMULATIVE = 2  # AggregationTemporality.CUMULATIVE in the OTLP protobuf


def _series(points: list[MetricPoint]) -> set[tuple[tuple[str, object], ...]]:
    return {tuple(sorted(p.attributes.items())) for p in points}


def test_ten_thousand_raw_paths_make_a_few_series_of_the_stable_duration_metric(
    otlp_receiver: OtlpReceiver,
) -> None:
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "paths-app",
            # Only the metrics are read here; 10 000 spans would just slow the run down.
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    result = run(["python", PROGRAM, str(PATHS)], env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    def all_requests_counted(rx: OtlpReceiver) -> list[MetricPoint]:
        points = rx.points_named(DURATION, "paths-app")
        latest = {tuple(sorted(p.attributes.items())): p for p in points}  # cumulative: the last wins
        total = sum(p.count or 0 for p in latest.values())
        return points if total == 2 * PATHS + 20 else []

    points = otlp_receiver.wait_for(all_requests_counted, timeout=60)
    routes = {(p.attributes.get("http.route"), p.attributes["http.response.status_code"]) for p in points}
    # A made-up method is refused before routing (405, no route), as an unknown path is (404).
    assert routes == {("/stock/<int:item>", 200), (None, 404), (None, 405)}, routes
    assert {p.attributes["http.request.method"] for p in points} == {"GET", "_OTHER"}
    assert len(_series(points)) == 3, _series(points)
    assert not {k for p in points for k in p.attributes} & {"url.path", "http.target", "url.full"}

    assert {(p.unit, p.kind, p.temporality) for p in points} == {("s", "histogram", CUMULATIVE)}
    assert {p.explicit_bounds for p in points} == {SEMCONV_BUCKETS}
    # The old conventions' metric (milliseconds, http.target and the Host header as labels) is not sent too.
    assert not otlp_receiver.points_named("http.server.duration", "paths-app")
    active = otlp_receiver.points_named("http.server.active_requests", "paths-app")
    assert {p.unit for p in active} == {"{request}"}
    assert len(_series(active)) == 2  # GET and _OTHER

"""MetricsScrub: data point attributes, exemplars and the resource scrubbed; clean data untouched."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource

from otelbundle.scrub import MetricsScrub, Scrubber


def collected(resource: dict[str, str], *points: dict[str, str]) -> MetricsData:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create(resource))
    counter = provider.get_meter("m").create_counter("calls")
    for attributes in points:
        counter.add(1, attributes)
    data = reader.get_metrics_data()
    assert data is not None
    return data


def attributes_of(data: MetricsData) -> list[dict[str, object]]:
    return [
        dict(point.attributes or {})
        for resource_metrics in data.resource_metrics
        for scope in resource_metrics.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]


def test_clean_data_is_handed_on_as_it_is() -> None:
    data = collected({"service.name": "shop"}, {"http.route": "/a"}, {"http.route": "/b", "code": "200"})
    scrub = MetricsScrub(Scrubber())
    assert scrub(data) is data
    assert scrub(data) is data  # and again, from what the scrubber remembers


def test_secrets_in_points_and_the_resource_are_scrubbed_and_the_rest_kept() -> None:
    data = collected(
        {"service.name": "shop", "deployment.db": "postgresql://app:hunter2@db/shop"},
        {"url.full": "https://h/v1?api_key=hunter2&page=2", "http.route": "/v1"},
        {"http.route": "/v2"},
    )
    scrubbed = MetricsScrub(Scrubber())(data)
    assert "hunter2" not in repr(scrubbed) and "hunter2" in repr(data)
    assert sorted(attributes_of(scrubbed), key=str) == sorted(
        [{"url.full": "https://h/v1?api_key=REDACTED&page=2", "http.route": "/v1"}, {"http.route": "/v2"}],
        key=str,
    )
    resource = scrubbed.resource_metrics[0].resource.attributes
    assert resource["deployment.db"] == "postgresql://REDACTED@db/shop"
    assert resource["service.name"] == "shop"

"""The labels in-process alerts get from the process: ``instance`` and ``service_name``.

Under a pre-fork server every worker evaluates its own rules; without a label
that tells the workers apart their alerts are identical and Alertmanager merges
them, so one worker resolving hides another that still fires. Prometheus avoids
this with the ``instance`` of the series an alert came from; here it is the
``service.instance.id`` the process's spans, metrics and logs carry. The SDK
regenerates that id in a fork child and updates the providers' resources, so
it is read from the tracer provider when an alert starts, not cached.

``service_name`` (from ``service.name``, the label Prometheus alerts on span
metrics carry) lets Alertmanager group the workers' alerts into one
notification per service (``group_by: [alertname, service_name]``).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource

SERVICE_INSTANCE_ID = "service.instance.id"
SERVICE_NAME = "service.name"


def _resource_value(key: str) -> str:
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    if not isinstance(resource, Resource):
        return ""
    value = resource.attributes.get(key)
    return str(value) if value is not None else ""


def process_instance_id() -> str:
    """The tracer provider's ``service.instance.id``; "" (no label) when there is none."""
    return _resource_value(SERVICE_INSTANCE_ID)


def process_labels() -> dict[str, str]:
    """``instance`` and ``service_name`` of this process, each left out when unknown."""
    labels = {"instance": process_instance_id(), "service_name": _resource_value(SERVICE_NAME)}
    return {name: value for name, value in labels.items() if value}

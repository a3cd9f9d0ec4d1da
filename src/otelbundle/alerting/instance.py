"""The ``instance`` label of in-process alerts: this process's ``service.instance.id``.

Under a pre-fork server every worker evaluates its own rules; without a label
that tells the workers apart their alerts are identical and Alertmanager merges
them, so one worker resolving hides another that still fires. Prometheus avoids
this with the ``instance`` of the series an alert came from; here it is the
``service.instance.id`` the process's spans, metrics and logs carry. The SDK
regenerates that id in a fork child and updates the providers' resources, so
it is read from the tracer provider when an alert starts, not cached.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource

SERVICE_INSTANCE_ID = "service.instance.id"


def process_instance_id() -> str:
    """The tracer provider's ``service.instance.id``; "" (no label) when there is none."""
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    if not isinstance(resource, Resource):
        return ""
    value = resource.attributes.get(SERVICE_INSTANCE_ID)
    return str(value) if value is not None else ""

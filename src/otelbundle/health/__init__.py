"""Health checks as an OpenTelemetry instrumentor; see docs/health.md.

Public surface for other parts of otelbundle: :func:`register_sink` /
:class:`ResultSink` to receive every check result, and
:func:`register_span_processor` to feed results to the alert engine as
``health <check name>`` spans.
"""

from otelbundle.health.model import CheckResult, Status
from otelbundle.health.outputs import ResultSink, register_sink, unregister_sink
from otelbundle.health.spans import register_span_processor

__all__ = [
    "CheckResult",
    "ResultSink",
    "Status",
    "register_sink",
    "register_span_processor",
    "unregister_sink",
]

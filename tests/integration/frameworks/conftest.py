"""The framework matrix: real servers under ``opentelemetry-instrument`` with only our distro.

One OTLP receiver per test module (servers of a module share it and tell their
telemetry apart by service name and by the trace id each request is sent with).
"""

from __future__ import annotations

import os
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest

from harness.apps import ROOT, Program, clean_env
from harness.otlp_receiver import LogRecordView, OtlpReceiver, SpanRecord

T = TypeVar("T")

APPS = "tests.integration.frameworks.apps"

# Lines that only our telemetry (the SDK, the contrib instrumentations, the distro) would
# print; the apps' own output (their access logs, their error tracebacks) never matches.
COMPLAINTS = re.compile(
    r"Invalid type|detected recursive logging|for attribute (key|value)|String attribute value exceeds"
    r"|Attributes dict is full|attributes were dropped|Failed to export|Exception while exporting"
    r"|Attempting to instrument while already instrumented|Overriding of current \w+Provider"
    r"|Failed to detach context|DependencyConflict|Instrumenting of \w+ failed|Failed to auto initialize"
    r"|(WARNING|ERROR|CRITICAL)\W+\[?(opentelemetry|otelbundle)"
)


def complaints(output: str) -> list[str]:
    """Lines of an app's stdout+stderr that our telemetry caused."""
    return [line for line in output.splitlines() if COMPLAINTS.search(line)]


def assert_quiet(program: Program) -> None:
    found = complaints(program.output)
    assert not found, "telemetry warnings in the app's output:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    rx = OtlpReceiver().start()
    try:
        yield rx
    finally:
        rx.stop()


def app_env(receiver: OtlpReceiver, service: str, **extra: str) -> dict[str, str]:
    """The environment a user would run with: the receiver as collector, a service name."""
    # The checkout's own src first: the venv's editable install may point at another checkout.
    pythonpath = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return clean_env({**receiver.env(), "OTEL_SERVICE_NAME": service, "PYTHONPATH": pythonpath, **extra})


@dataclass(frozen=True)
class Sent:
    """One request the test sent as the child of a span of its own, so its trace is known."""

    trace_id: str
    parent_span_id: str
    status: int
    body: bytes


def send(url: str, headers: dict[str, str] | None = None) -> Sent:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    request = urllib.request.Request(
        url, headers={"traceparent": f"00-{trace_id}-{parent}-01", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Sent(trace_id, parent, int(response.status), response.read())
    except urllib.error.HTTPError as exc:
        return Sent(trace_id, parent, int(exc.code), exc.read())


def server_span(receiver: OtlpReceiver, sent: Sent, timeout: float = 30.0) -> SpanRecord:
    """The server span that answered ``sent``: in its trace, a child of the test's span."""

    def found(rx: OtlpReceiver) -> SpanRecord | None:
        return next(
            (s for s in rx.spans_in_trace(sent.trace_id) if s.parent_span_id == sent.parent_span_id), None
        )

    return receiver.wait_for(found, timeout=timeout)


def log_in_trace(receiver: OtlpReceiver, trace_id: str, body: str, timeout: float = 30.0) -> LogRecordView:
    """The record whose body starts with ``body`` exported in ``trace_id``."""

    def found(rx: OtlpReceiver) -> LogRecordView | None:
        return next((r for r in rx.logs_in_trace(trace_id) if str(r.body).startswith(body)), None)

    try:
        return receiver.wait_for(found, timeout=timeout)
    except AssertionError:
        seen = [(r.body, r.trace_id) for r in receiver.logs if str(r.body).startswith(body)]
        raise AssertionError(f"no log {body!r} in trace {trace_id}; records with that body: {seen}") from None


def has_metric(receiver: OtlpReceiver, service: str, names: tuple[str, ...]) -> set[str]:
    """Wait until ``service`` exported at least one of ``names``; the ones it did."""
    return receiver.wait_for(lambda rx: rx.metric_names(service) & set(names), timeout=30)


HTTP_SERVER_DURATION = ("http.server.duration", "http.server.request.duration")


def keep_sending(
    receiver: OtlpReceiver,
    url: str,
    check: Callable[[OtlpReceiver], T | None],
    timeout: float = 60.0,
    burst: int = 1,
) -> T:
    """Send ``burst`` requests to ``url`` (a new connection each, so every worker gets some),
    then give ``check`` half a second; until it holds or ``timeout`` has passed."""
    end = time.monotonic() + timeout
    while True:
        for _ in range(burst):
            send(url)
        try:
            return receiver.wait_for(check, timeout=0.5)  # type: ignore[arg-type]
        except AssertionError:
            if time.monotonic() > end:
                raise


def instances_of(service: str) -> Callable[[OtlpReceiver], set[str] | None]:
    """A check: the service.instance.ids that exported spans of ``service``, once there are two."""

    def check(rx: OtlpReceiver) -> set[str] | None:
        found = {str(s.resource["service.instance.id"]) for s in rx.spans if s.service == service}
        return found if len(found) >= 2 else None

    return check


def each_exports_metrics(
    receiver: OtlpReceiver, service: str, instances: set[str], timeout: float = 30.0
) -> dict[str, set[str]]:
    """Wait until every one of ``instances`` (forked workers) exported its process metrics and the
    HTTP server metrics of the requests it served: its own periodic reader works after the fork."""
    names = {"process": ("process.memory.usage",), "http": HTTP_SERVER_DURATION}

    def exported(rx: OtlpReceiver) -> dict[str, set[str]]:
        return {
            kind: {
                str(m.resource["service.instance.id"])
                for m in rx.metrics
                if m.service == service and m.name in wanted
            }
            for kind, wanted in names.items()
        }

    def complete(rx: OtlpReceiver) -> dict[str, set[str]] | None:
        found = exported(rx)
        return found if all(instances <= ids for ids in found.values()) else None

    try:
        return receiver.wait_for(complete, timeout)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nworkers: {sorted(instances)}\nwith metrics: {exported(receiver)}"
        ) from None

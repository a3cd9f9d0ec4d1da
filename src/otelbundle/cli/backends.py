"""Small read-only clients for the backends' HTTP APIs, used by the demo and the e2e tests.

Only the standard library: the demo must run from a plain install. Each query
returns parsed JSON or raises :class:`BackendError` naming the URL.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class BackendError(Exception):
    pass


class BackendHTTPError(BackendError):
    """The backend answered, with an error status; ``body`` is its (truncated) explanation."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class BackendUnreachable(BackendError):
    """No HTTP answer at all (refused, timed out, bad host): the backend is likely not running."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part (urllib would take it for the host name)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def redacted(url: str) -> str:
    """``url`` as it may be shown: its password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def basic_auth(url: str) -> dict[str, str]:
    """The Authorization header for the ``user:password@`` in ``url`` (none when it has none),
    as a store behind a proxy with basic authentication (Grafana Cloud's Loki) wants it."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return {}
    pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


def get_json(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> Any:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")[:300]
        raise BackendHTTPError(f"GET {url} -> HTTP {exc.code}: {body}", exc.code, body) from None
    except urllib.error.URLError as exc:
        reason = str(exc.reason)
        raise BackendUnreachable(f"GET {url} failed: {exc}", reason) from None
    except OSError as exc:  # e.g. a timeout while reading the body
        raise BackendUnreachable(f"GET {url} failed: {exc}", str(exc)) from None
    except ValueError as exc:
        raise BackendError(f"GET {url} failed: {exc}") from None


def poll(fetch: Callable[[], T | None], *, timeout: float, interval: float = 0.5) -> T | None:
    """Call ``fetch`` until it returns something truthy or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while True:
        try:
            result = fetch()
        except BackendError:
            result = None
        if result:
            return result
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


# Asks Loki (3.x) to keep index labels in ``stream`` and return structured metadata
# (trace_id, span_id, severity_text... from OTLP) and parsed labels per entry, as a
# third element of each value, instead of merging them into one stream per value set.
LOKI_CATEGORIZE_LABELS = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}


class NotLogStreams(BackendError):
    """Loki answered a metric query (a ``matrix`` or ``vector``), not log lines."""

    def __init__(self, result_type: str) -> None:
        super().__init__(f"expected log streams from Loki, got {result_type!r}")
        self.result_type = result_type


@dataclass(frozen=True)
class LokiEntry:
    """One log line from Loki's query_range, with its labels by category."""

    ts_ns: int
    line: str
    labels: dict[str, str]  # index (stream) labels, e.g. service_name
    metadata: dict[str, str]  # structured metadata, e.g. trace_id, span_id, severity_text
    parsed: dict[str, str]  # labels extracted by parsers in the query (| json, | logfmt)

    def key(self) -> tuple[object, ...]:
        """Identity used to print each entry once when time windows overlap."""
        return (
            self.ts_ns,
            tuple(sorted(self.labels.items())),
            tuple(sorted(self.metadata.items())),
            self.line,
        )


def loki_entries(data: Any) -> list[LokiEntry]:
    """Entries of a query_range response, categorized or not, in Loki's order."""
    if not isinstance(data, dict) or data.get("status") != "success":
        raise BackendError(f"unexpected answer from Loki: {str(data)[:200]}")
    body = data.get("data") or {}
    if body.get("resultType") != "streams":
        raise NotLogStreams(str(body.get("resultType")))
    entries: list[LokiEntry] = []
    for stream in body.get("result", []):
        labels = dict(stream.get("stream", {}))
        for value in stream.get("values", []):
            extra = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
            entries.append(
                LokiEntry(
                    ts_ns=int(value[0]),
                    line=value[1],
                    labels=labels,
                    metadata=dict(extra.get("structuredMetadata", {})),
                    parsed=dict(extra.get("parsed", {})),
                )
            )
    return entries


@dataclass(frozen=True)
class Backends:
    """Where the stack's query APIs are; defaults are the native stack's loopback ports."""

    jaeger: str = "http://127.0.0.1:16686"
    prometheus: str = "http://127.0.0.1:9090"
    loki: str = "http://127.0.0.1:3100"
    alertmanager: str = "http://127.0.0.1:9093"

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Spans of one trace from Jaeger's v3 API, flattened to {service, name, span_id, parent}."""
        data = get_json(f"{self.jaeger}/api/v3/traces/{trace_id}")
        spans: list[dict[str, Any]] = []
        for resource_spans in data.get("result", {}).get("resourceSpans", []):
            attributes = resource_spans.get("resource", {}).get("attributes", [])
            service = next(
                (a["value"].get("stringValue") for a in attributes if a.get("key") == "service.name"), ""
            )
            for scope in resource_spans.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    spans.append(
                        {
                            "service": service,
                            "name": span.get("name", ""),
                            "span_id": span.get("spanId", ""),
                            "parent": span.get("parentSpanId", ""),
                        }
                    )
        return spans

    def promql(self, query: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        data = get_json(url)
        if data.get("status") != "success":
            raise BackendError(f"PromQL {query!r}: {data}")
        return list(data["data"]["result"])

    def loki_lines(self, query: str, since_seconds: int = 3600) -> list[str]:
        now = time.time_ns()
        params = {
            "query": query,
            "start": str(now - since_seconds * 1_000_000_000),
            "end": str(now),
            "limit": "100",
            "direction": "forward",
        }
        data = get_json(f"{self.loki}/loki/api/v1/query_range?" + urllib.parse.urlencode(params))
        lines: list[str] = []
        for stream in data.get("data", {}).get("result", []):
            lines.extend(value[1] for value in stream.get("values", []))
        return lines

    def loki_query_range(
        self,
        query: str,
        *,
        start_ns: int,
        end_ns: int,
        limit: int,
        direction: str = "forward",
        headers: dict[str, str] | None = None,
    ) -> list[LokiEntry]:
        """Log lines of a LogQL query in [start_ns, end_ns], with structured metadata per line."""
        params = {
            "query": query,
            "start": str(start_ns),
            "end": str(end_ns),
            "limit": str(limit),
            "direction": direction,
        }
        url = f"{self.loki}/loki/api/v1/query_range?" + urllib.parse.urlencode(params)
        return loki_entries(
            get_json(url, timeout=30.0, headers={**LOKI_CATEGORIZE_LABELS, **(headers or {})})
        )

    def alerts(self, alertname: str | None = None) -> list[dict[str, Any]]:
        params = {"filter": f'alertname="{alertname}"'} if alertname else {}
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        return list(get_json(f"{self.alertmanager}/api/v2/alerts{query}"))

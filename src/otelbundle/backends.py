"""Small read-only clients for the backends' HTTP APIs, used by the demo and the e2e tests.

Only the standard library: the demo must run from a plain install. Each query
returns parsed JSON or raises :class:`BackendError` naming the URL.
"""

from __future__ import annotations

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


def get_json(url: str, timeout: float = 5.0) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")[:300]
        raise BackendError(f"GET {url} -> HTTP {exc.code}: {body}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
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

    def alerts(self, alertname: str | None = None) -> list[dict[str, Any]]:
        params = {"filter": f'alertname="{alertname}"'} if alertname else {}
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        return list(get_json(f"{self.alertmanager}/api/v2/alerts{query}"))

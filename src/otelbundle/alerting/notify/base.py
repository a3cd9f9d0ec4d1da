"""What every notifier is, and the one HTTP call they share (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from otelbundle.alerting.alert import Alert


class RetryableError(Exception):
    """5xx, 429, connection errors, timeouts: try again later (after ``retry_after`` if given)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Other 4xx: the request itself is wrong; retrying cannot help."""


class Notifier(Protocol):
    name: str

    def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver or raise RetryableError / PermanentError."""


def post_json(url: str, body: Any, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
    data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "otelbundle-alerting")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode("utf-8", "replace")
        if exc.code == 429 or exc.code >= 500:
            raise RetryableError(
                f"HTTP {exc.code}: {detail}", _retry_after(exc.headers.get("Retry-After"))
            ) from None
        raise PermanentError(f"HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RetryableError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            import time

            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def rfc3339(alert_time: Any) -> str:
    return str(alert_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")

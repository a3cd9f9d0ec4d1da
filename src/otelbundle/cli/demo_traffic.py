"""Light, steady traffic for the demo services while a person explores.

The demo's burst alone leaves rates flat: span metrics count it in their first
sample and ``rate()`` then sees no increase, and Jaeger's Monitor tab plots one
point per 60 s step, so it needs traffic spread over minutes. This process
keeps a few requests a second going - product listings, checkouts that fail,
checkouts of an unknown product (none of which take stock) - until
``otelbundle demo --stop`` ends it, the storefront stops answering for a
minute, or an hour has passed.

    python -m otelbundle.cli.demo_traffic http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

LIMIT_S = 3600.0
GIVE_UP_AFTER_S = 60.0


def request_status(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    traceparent: str | None = None,
    timeout: float = 10.0,
) -> int:
    """The HTTP status of one JSON request, 0 when nothing answered (the demo and its tools share it)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if traceparent:
        request.add_header("traceparent", traceparent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def run(base: str, interval: float = 0.5, limit: float = LIMIT_S) -> None:
    end = time.monotonic() + limit
    last_answer = time.monotonic()
    while time.monotonic() < end and time.monotonic() - last_answer < GIVE_UP_AFTER_S:
        statuses = (
            request_status("GET", f"{base}/products"),
            request_status("POST", f"{base}/checkout", {"sku": "FAIL", "qty": 1}),
            request_status("POST", f"{base}/checkout", {"sku": "NO-SUCH-SKU", "qty": 1}),
        )
        if any(statuses):
            last_answer = time.monotonic()
        time.sleep(interval)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otelbundle.cli.demo_traffic", description=__doc__)
    parser.add_argument("base", help="the storefront's URL")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between rounds (default 0.5)")
    parser.add_argument("--limit", type=float, default=LIMIT_S, help="stop after this many seconds")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        run(args.base, args.interval, args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

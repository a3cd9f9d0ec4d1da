"""harness's OTLP receiver as a process of its own, on a fixed HTTP port (for bench/soak_app.py).

    python bench/soak_receiver.py PORT OUT.jsonl

A process so that the soak can take the collector away for real (SIGTERM: the listening
socket and every kept-alive connection close, the exporters get "connection refused")
and bring it back on the same port. It keeps counts, not records: every 5 s (and at
SIGTERM) one JSON line with the spans, log records and metric points received per
service since it started, and the last value of each ``otelbundle.*`` metric per service
(the alert rules' drop and overflow counters).
"""

from __future__ import annotations

import collections
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.otlp_receiver import OtlpReceiver, _http_handler, _QuietHTTPServer

EVERY = 5.0


class CountingReceiver(OtlpReceiver):
    """Counts and forgets what arrives (a 25-minute soak would otherwise hold every span)."""

    def start_on(self, port: int) -> CountingReceiver:
        self.counts: collections.Counter[str] = collections.Counter()
        self.own: dict[str, float | None] = {}
        self._released.set()
        self._http = _QuietHTTPServer(("127.0.0.1", port), _http_handler(self))
        self.http_port = port
        threading.Thread(target=self._http.serve_forever, name="otlp-http", daemon=True).start()
        return self

    def _store(self, info: Any, request: Any) -> None:
        super()._store(info, request)
        with self._changed:
            for span in self.spans:
                self.counts[f"spans/{span.resource.get('service.name')}"] += 1
            for record in self.logs:
                self.counts[f"logs/{record.resource.get('service.name')}"] += 1
            for point in self.metrics:
                service = point.resource.get("service.name")
                self.counts[f"points/{service}"] += 1
                if point.name.startswith("otelbundle."):
                    labels = ",".join(f"{k}={v}" for k, v in sorted(point.attributes.items()))
                    self.own[f"{service}/{point.name}{{{labels}}}"] = point.value
            self.spans.clear()
            self.logs.clear()
            self.metrics.clear()
            self.received.clear()

    def row(self) -> str:
        with self._changed:
            return json.dumps(
                {
                    "t": time.time(),
                    "counts": dict(self.counts),
                    "requests": dict(self.requests),
                    "own": self.own,
                }
            )


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    receiver = CountingReceiver().start_on(port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(out, "a", encoding="utf-8") as sink:
        while not stop.wait(EVERY):
            sink.write(receiver.row() + "\n")
            sink.flush()
        receiver.stop()
        sink.write(receiver.row() + "\n")


if __name__ == "__main__":
    main()

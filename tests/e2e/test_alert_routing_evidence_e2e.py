"""Routing and evidence end to end: a Flask app under opentelemetry-instrument, a real Alertmanager
and two webhook receivers, nothing else (no collector, no stores: the in-process path needs none).

The app's critical alert (a checkout that raised ValueError) goes to the `pager` webhook and the
warning (search answering 503) to `chat`, each to exactly one, both to Alertmanager; the critical
one carries the ValueError's text, the request's log lines (scrubbed) and its trace link.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.apps import Program, clean_env, free_port, start
from harness.http_sink import Sink

PROGRAM = str(Path(__file__).parent / "programs" / "raising_shop.py")
RULES = """
groups:
  - name: e2e-shop
    interval: 1m                 # no tick during the test: alerts go out as the spans end
    rules:
      - alert: CheckoutRaises
        spans: {service: e2e-shop, kind: server, name: "POST /checkout"}
        expr: error_count > 0
        labels: {severity: critical, suite: routing-e2e}
        annotations: {summary: "checkouts fail"}
      - alert: SearchDown
        spans: {service: e2e-shop, kind: server, name: "GET /search"}
        expr: error_count > 0
        labels: {severity: warning, suite: routing-e2e}
        annotations: {summary: "search fails"}
"""


def alertmanager_binary() -> str | None:
    """Debian's prometheus-alertmanager, or one the stack installed into the cache."""
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found:
        return found
    cached = sorted(
        glob.glob(str(Path.home() / ".cache" / "otelbundle" / "bin" / "alertmanager-*" / "alertmanager"))
    )
    return cached[-1] if cached else None


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = alertmanager_binary()
    if binary is None:
        if os.environ.get("OTELBUNDLE_REQUIRE_STACK") == "1":
            pytest.fail("no Alertmanager binary (apt-get install prometheus-alertmanager, or `make stack`)")
        pytest.skip("no Alertmanager binary (apt-get install prometheus-alertmanager, or `make stack`)")
    folder = tmp_path_factory.mktemp("alertmanager")
    (folder / "alertmanager.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    port = free_port()
    log = open(folder / "am.log", "wb")  # noqa: SIM115 - closed after the process ends
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((folder / "am.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@dataclass
class Shop:
    url: str
    program: Program
    pager: Sink
    chat: Sink


@pytest.fixture(scope="module")
def shop(alertmanager: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("shop")
    pager, chat = Sink(), Sink()
    (folder / "rules.yaml").write_text(textwrap.dedent(RULES))
    (folder / "otelbundle.yaml").write_text(
        textwrap.dedent(
            f"""\
            alerting:
              rule_files: [rules.yaml]
              generator_url: "http://jaeger.example:16686/trace/{{{{ $exemplar.trace_id }}}}"
              notify:
                alertmanager: {{url: "{alertmanager}"}}
                webhook:
                  - {{name: pager, url: "{pager.url}/pager", match: ['severity="critical"']}}
                  - {{name: chat, url: "{chat.url}/chat", match: ['severity=~"warning|info"']}}
            """
        )
    )
    port = free_port()
    env = clean_env(
        {
            "OTEL_SERVICE_NAME": "e2e-shop",
            "OTELBUNDLE_CONFIG": str(folder / "otelbundle.yaml"),
            # Nothing is exported: the alerts' path is in-process, and this test needs no collector.
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    program = start(["python", PROGRAM, str(port)], env, folder, name="shop")
    url = f"http://127.0.0.1:{port}"
    try:
        program.wait_http(f"{url}/healthz")
        yield Shop(url, program, pager, chat)
    finally:
        program.stop()
        pager.close()
        chat.close()


def call(method: str, url: str) -> int:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, method=method, data=b"" if method == "POST" else None), timeout=10
        ) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def alerts_in(sink: Sink) -> list[dict[str, Any]]:
    return [alert for _, _, body in sink.requests for alert in body["alerts"]]


def test_two_routed_webhooks_get_exactly_their_alerts_and_the_critical_one_says_what_failed(
    shop: Shop, alertmanager: str
) -> None:
    assert call("POST", f"{shop.url}/checkout?order=42") == 500
    assert call("GET", f"{shop.url}/search") == 503
    deadline = time.monotonic() + 30
    while (not shop.pager.requests or not shop.chat.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2)  # whatever would be misrouted arrives meanwhile
    pager, chat = alerts_in(shop.pager), alerts_in(shop.chat)
    assert [(a["labels"]["alertname"], a["status"]) for a in pager] == [("CheckoutRaises", "firing")], (
        shop.program.output
    )
    assert [(a["labels"]["alertname"], a["status"]) for a in chat] == [("SearchDown", "firing")], (
        shop.program.output
    )
    assert {body["receiver"] for _, _, body in shop.pager.requests} == {"pager"}

    critical = pager[0]["annotations"]
    assert critical["exception"] == "ValueError: card declined for order 42"
    assert critical["span"] == "POST /checkout"
    trace_id = critical["trace_ids"].split(",")[0]
    assert critical["trace_url"] == f"http://jaeger.example:16686/trace/{trace_id}"
    lines = critical["logs"].splitlines()
    assert any("INFO shop: checkout of order 42, paying with password=REDACTED" in line for line in lines), (
        lines
    )
    assert any("ValueError" in line for line in lines), lines  # Flask's own record of the exception
    assert "hunter2" not in json.dumps(pager + chat)

    found = json.load(
        urllib.request.urlopen(f"{alertmanager}/api/v2/alerts?filter=suite%3D%22routing-e2e%22")
    )
    at_alertmanager = {a["labels"]["alertname"]: a for a in found}
    assert set(at_alertmanager) == {"CheckoutRaises", "SearchDown"}
    assert (
        at_alertmanager["CheckoutRaises"]["annotations"]["exception"]
        == "ValueError: card declined for order 42"
    )
    assert at_alertmanager["SearchDown"]["annotations"].get("exception", "") == ""
    assert "hunter2" not in json.dumps(found)

"""Per-instance alerts under gunicorn -w 2, against a real Alertmanager running the shipped config.

Each worker evaluates the rules over the spans it serves. Its alerts carry
``instance`` = its ``service.instance.id``, so when one worker resolves while
the other still fires, Alertmanager keeps showing the firing one. Dropping the
label (``instance: ""`` in the rule) brings back the merge: the same run then
shows nothing firing although a worker still fires. The shipped route
(``group_by: [alertname, service_name]``) puts both workers' alerts in one
notification group per service.
"""

from __future__ import annotations

import json
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from harness.alertmanager import alertmanager_binary, running_alertmanager
from harness.apps import BIN, ROOT, clean_env, free_port, start
from harness.http_sink import Sink
from harness.otlp_receiver import OtlpReceiver

T = TypeVar("T")
SHIPPED = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RULES = """
groups:
  - name: workers
    interval: 200ms
    rules:
      - alert: WorkerErrors
        spans: {{service: faulty, kind: server}}
        expr: error_count > 0
        window: 2s
        labels: {{severity: warning{extra}}}
"""


def _poll(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def alertmanager(sink: Sink, tmp_path: Path) -> Iterator[str]:
    """The shipped alertmanager.yml, with only its webhook URLs and group timings changed for a test."""
    binary = alertmanager_binary()
    if binary is None:
        pytest.skip(
            "no Alertmanager binary (run `otelbundle stack install` or apt-get install prometheus-alertmanager)"
        )
    config = yaml.safe_load(SHIPPED.read_text())
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"{sink.url}/{receiver['name']}"
    config["route"]["group_wait"] = "1s"
    config["route"]["group_interval"] = "1s"
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))
    with running_alertmanager(binary, tmp_path / "am.yml", tmp_path) as url:
        yield url


def _active(alertmanager: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"filter": 'alertname="WorkerErrors"'})
    with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts?{query}", timeout=5) as response:
        alerts: list[dict[str, Any]] = json.loads(response.read())
    return [a for a in alerts if a["status"]["state"] == "active"]


def _request(port: int) -> tuple[int, str]:
    """One request on a new connection (so both workers get traffic); (status, worker pid)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/work", timeout=5) as response:
            return response.status, response.headers["X-Pid"]
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Pid"]


@pytest.mark.parametrize("keep_instance", [True, False], ids=["instance-label", "instance-dropped"])
def test_one_worker_resolving_does_not_hide_the_other_still_firing(
    otlp_receiver: OtlpReceiver, sink: Sink, alertmanager: str, tmp_path: Path, keep_instance: bool
) -> None:
    (tmp_path / "rules.yaml").write_text(
        textwrap.dedent(RULES.format(extra="" if keep_instance else ', instance: ""'))
    )
    (tmp_path / "otelbundle.yaml").write_text(
        "alerting:\n  rule_files: [rules.yaml]\n  resend_delay: 1m\n"
        f"  notify:\n    alertmanager: {{url: '{alertmanager}'}}\n"
    )
    control = tmp_path / "failing"
    control.write_text("all")
    port = free_port()
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "faulty",
            "OTELBUNDLE_CONFIG": str(tmp_path / "otelbundle.yaml"),
            "FAULTY_PIDS_FILE": str(control),
        }
    )
    args = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}"]
    server = start([*args, "tests.integration.programs.faulty_workers:app"], env, tmp_path, name="gunicorn")
    try:
        server.wait_http(f"http://127.0.0.1:{port}/work")

        # Both workers fail: each fires its own alert.
        def both_failed() -> set[str] | None:
            pids = {pid for status, pid in (_request(port) for _ in range(4)) if status == 500}
            both_failed.seen |= pids  # type: ignore[attr-defined]
            return both_failed.seen if len(both_failed.seen) >= 2 else None  # type: ignore[attr-defined]

        both_failed.seen = set()  # type: ignore[attr-defined]
        pids = sorted(_poll(both_failed, 30, "both workers to serve a failing request"))
        instance_of = _poll(
            lambda: (
                found
                if len(
                    found := {
                        str(s.resource["process.pid"]): str(s.resource["service.instance.id"])
                        for s in otlp_receiver.spans
                        if s.service == "faulty"
                    }
                )
                >= 2
                else None
            ),
            30,
            "spans of both workers",
        )
        assert set(instance_of) == set(pids), (instance_of, pids)
        expected = 2 if keep_instance else 1  # without instance the two workers' alerts are one
        firing = _poll(
            lambda: alerts if len(alerts := _active(alertmanager)) == expected else None,
            30,
            f"{expected} active WorkerErrors alert(s) at Alertmanager",
        )
        if keep_instance:
            assert {a["labels"]["instance"] for a in firing} == {instance_of[p] for p in pids}
            assert {a["labels"]["service_name"] for a in firing} == {"faulty"}
        else:
            assert "instance" not in firing[0]["labels"], firing[0]["labels"]

        # The first worker recovers, the second keeps failing.
        recovered, still_failing = pids
        control.write_text(still_failing)
        deadline = time.monotonic() + 20
        resolved_seen = False
        while time.monotonic() < deadline and not resolved_seen:
            for _ in range(4):
                _request(port)
            if keep_instance:
                resolved_seen = not any(
                    a["labels"]["instance"] == instance_of[recovered] for a in _active(alertmanager)
                )
            else:
                resolved_seen = not _active(alertmanager)
            time.sleep(0.2)
        assert resolved_seen, f"the recovered worker's alert never resolved at Alertmanager\n{server.output}"
        shown = _active(alertmanager)
        if keep_instance:
            assert [a["labels"]["instance"] for a in shown] == [instance_of[still_failing]], shown
        else:
            # The merge this label prevents: a worker still fires, Alertmanager shows nothing.
            assert shown == [], shown

        # The shipped route groups by alertname and service: one group for both workers.
        groups = {
            json.dumps(body["groupLabels"], sort_keys=True)
            for _path, _headers, body in sink.requests
            if body.get("commonLabels", {}).get("alertname") == "WorkerErrors"
        }
        assert groups == {
            json.dumps({"alertname": "WorkerErrors", "service_name": "faulty"}, sort_keys=True)
        }, groups
        if keep_instance:
            assert any(len(body["alerts"]) == 2 for _p, _h, body in sink.requests), [
                b["alerts"] for _p, _h, b in sink.requests
            ]
        assert "could not restart after fork" not in server.output
    finally:
        server.stop()

"""Alert rules loaded by the distro under opentelemetry-instrument, observed at the OTLP receiver."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.apps import Program, clean_env, run, start
from harness.http_sink import Sink
from harness.otlp_receiver import OtlpReceiver
from otelbundle.alerting.manager import build_alerting
from otelbundle.alerting.section import AlertingConfig

PROGRAM = str(Path(__file__).parents[1] / "programs" / "failing_work.py")
RULE = """
groups:
  - name: g
    interval: 200ms
    rules:
      - alert: {name}
        spans: {{service: shop, kind: server}}
        expr: error_count > 0
        labels: {{severity: critical}}
"""


def write_config(folder: Path, rule_name: str = "ShopErrors", extra: str = "") -> Path:
    (folder / "rules.yaml").write_text(textwrap.dedent(RULE.format(name=rule_name)))
    config = folder / "otelbundle.yaml"
    config.write_text("alerting:\n  rule_files: [rules.yaml]\n" + extra)
    return config


def test_transition_log_carries_the_exemplar_trace_and_the_gauge_reports_firing(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env = clean_env(
        {**otlp_receiver.env(), "OTEL_SERVICE_NAME": "shop", "OTELBUNDLE_CONFIG": str(write_config(tmp_path))}
    )
    result = run(["python", PROGRAM, "3"], env, timeout=60)
    assert result.returncode == 0 and "FAILING DONE" in result.stdout, result.stderr
    failing = otlp_receiver.wait_for(lambda rx: len(rx.spans_named("POST /checkout")) == 3 and rx.spans)
    failing_traces = {s.trace_id for s in failing}
    spans = {(s.trace_id, s.span_id) for s in otlp_receiver.spans}
    firing = otlp_receiver.wait_for(
        lambda rx: next((r for r in rx.logs if r.body == "alert ShopErrors firing (value 3)"), None)
    )
    assert firing.severity_text == "ERROR"  # firing + severity=critical
    assert firing.trace_id in failing_traces  # the record is joined to the trace that caused it
    # ... at a span of it that exists (it was a made-up span id 1, shown as 00000000 by `otelbundle logs`)
    assert (firing.trace_id, firing.span_id) in spans, (firing.span_id, spans)
    assert firing.attributes["alertstate"] == "firing"
    gauge = otlp_receiver.wait_for(
        lambda rx: next(
            (
                m
                for m in rx.metrics
                if m.name == "otelbundle.alerting.alerts" and m.attributes.get("alertstate") == "firing"
            ),
            None,
        )
    )
    assert (
        gauge.value == 1
        and gauge.attributes["alertname"] == "ShopErrors"
        and gauge.attributes["severity"] == "critical"
    )


def test_bad_rules_are_named_with_positions_and_the_app_keeps_its_telemetry(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    (tmp_path / "rules.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: p95 > fast\n"
    )
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "shop", "OTELBUNDLE_CONFIG": str(config)})
    result = run(["python", PROGRAM, "2", "0.5"], env, timeout=60)
    assert result.returncode == 0 and "FAILING DONE" in result.stdout, result.stderr
    assert f"{tmp_path}/rules.yaml:5:15: expr: bad threshold 'fast'" in result.stderr
    assert result.stderr.count("alert rules are off") == 1
    otlp_receiver.wait_for(lambda rx: len(rx.spans_named("POST /checkout")) == 2)


def test_reload_keeps_unchanged_rules_and_refuses_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    setup = build_alerting(str(config), {})
    assert setup is not None
    try:
        before = setup.engine.states[("g", "ShopErrors")]
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            rules.read_text()
            + textwrap.indent(textwrap.dedent(RULE.format(name="Other")).split("rules:\n", 1)[1], "")
        )
        assert setup.reload()
        assert set(setup.engine.states) == {("g", "ShopErrors"), ("g", "Other")}
        assert (
            setup.engine.states[("g", "ShopErrors")] is before
        )  # unchanged rule keeps its windows and alerts
        rules.write_text("groups: [{name: g, rules: [{alert: Broken, expr: nonsense}]}]\n")
        capsys.readouterr()
        assert not setup.reload()
        assert set(setup.engine.states) == {("g", "ShopErrors"), ("g", "Other")}  # the running rules stay
        # Reported like a start-up problem: located, one line each, on otelbundle.config ...
        reported = capsys.readouterr().err
        assert f"{rules}:1:" in reported and "nonsense" in reported, reported
        assert "alert rules not reloaded because of 1 problem(s); the running rules stay" in reported
        # ... and again on the next reload that meets it (a reload is not start-up).
        rules.write_text(rules.read_text() + "\n")
        assert not setup.reload()
        assert f"{rules}:1:" in capsys.readouterr().err
    finally:
        setup.shutdown()


def test_rules_see_spans_the_sampler_drops(otlp_receiver: OtlpReceiver, tmp_path: Path) -> None:
    env = clean_env(
        {
            **otlp_receiver.env(),
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_TRACES_SAMPLER": "always_off",  # nothing is exported...
            "OTELBUNDLE_CONFIG": str(write_config(tmp_path)),
        }
    )
    result = run(["python", PROGRAM, "3"], env, timeout=60)
    assert result.returncode == 0, result.stderr
    # ...yet the rule saw all three failing spans (AlwaysRecordSampler: recorded, not sampled).
    firing = otlp_receiver.wait_for(
        lambda rx: next((r for r in rx.logs if r.body == "alert ShopErrors firing (value 3)"), None)
    )
    assert firing.attributes["alertstate"] == "firing"
    assert otlp_receiver.spans_named("POST /checkout") == []


def test_a_changed_rule_file_is_picked_up_by_the_engine_thread(tmp_path: Path) -> None:
    import time

    setup = build_alerting(str(write_config(tmp_path)), {})
    assert setup is not None
    try:
        rules = tmp_path / "rules.yaml"
        rules.write_text(textwrap.dedent(RULE.format(name="Renamed")))
        os.utime(rules, (time.time() + 5, time.time() + 5))  # a visibly newer mtime
        deadline = time.monotonic() + 10  # the engine thread checks every 2 s
        while ("g", "Renamed") not in setup.engine.states:
            assert time.monotonic() < deadline, "the rule file change was not picked up"
            time.sleep(0.1)
        assert ("g", "ShopErrors") not in setup.engine.states
    finally:
        setup.shutdown()


def test_sighup_reloads_the_rules(tmp_path: Path) -> None:
    import time

    previous = signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in an app that has not claimed SIGHUP
    setup = build_alerting(str(write_config(tmp_path)), {})
    assert setup is not None
    reloaded_on: list[str] = []
    engine_reload = setup.engine.reload

    def reload(config: AlertingConfig) -> int:
        reloaded_on.append(threading.current_thread().name)
        return engine_reload(config)

    setup.engine.reload = reload  # type: ignore[method-assign]
    try:
        assert signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL
        (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULE.format(name="AfterHup")))
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 5
        while ("g", "AfterHup") not in setup.engine.states:
            assert time.monotonic() < deadline, "SIGHUP did not reload the rules"
            time.sleep(0.05)
        # On the thread that evaluates: a reload from another thread raced it (dicts changed
        # during iteration, a processor left feeding the old rules).
        assert reloaded_on == ["otelbundle-alert-engine"]
    finally:
        setup.shutdown()
        signal.signal(signal.SIGHUP, previous)


RAISING = str(Path(__file__).parents[1] / "programs" / "raising_work.py")


def test_the_webhook_gets_the_exception_and_the_traces_log_lines_scrubbed(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """Under the wrapper: the distro's log intake sees the app's records; evidence is scrubbed."""
    sink = Sink()
    try:
        config = write_config(tmp_path, extra=f"  notify: {{webhook: {{url: '{sink.url}/hook'}}}}\n")
        env = clean_env(
            {**otlp_receiver.env(), "OTEL_SERVICE_NAME": "shop", "OTELBUNDLE_CONFIG": str(config)}
        )
        result = run(
            ["python", RAISING, "card declined for order 42", "paying with password=hunter2"], env, timeout=60
        )
        assert result.returncode == 0 and "RAISING DONE" in result.stdout, result.stderr
        assert sink.requests, result.stderr
        annotations = sink.requests[0][2]["alerts"][0]["annotations"]
    finally:
        sink.close()
    assert annotations["exception"] == "ValueError: card declined for order 42"
    assert annotations["span"] == "POST /checkout"
    logs = annotations["logs"].splitlines()
    assert [line.split(" ", 2)[2] for line in logs] == [
        "shop.payments: paying with password=REDACTED",
        "shop.payments: payment failed (ValueError)",
    ]
    assert "hunter2" not in json.dumps(annotations)


# Spans that fail until told to stop (the file `stop` appears), so a test can edit the rule
# files and send signals while the application runs.
FAILING_UNTIL_STOPPED = """
import os, sys, time
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

tracer = trace.get_tracer("failing")
print("READY", flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as span:
        span.set_status(StatusCode.ERROR)
    time.sleep(0.1)
print("FAILING DONE", flush=True)
"""


def start_failing_app(tmp_path: Path, sink: Sink, otlp_receiver: OtlpReceiver) -> Program:
    """The app under the wrapper with a typo in its rule file (`eror_count`) and a webhook channel."""
    config = write_config(tmp_path, extra=f"  notify: {{webhook: {{url: '{sink.url}/hook'}}}}\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules.read_text().replace("error_count", "eror_count"))
    program = tmp_path / "failing_until_stopped.py"
    program.write_text(FAILING_UNTIL_STOPPED)
    env = clean_env({**otlp_receiver.env(), "OTEL_SERVICE_NAME": "shop", "OTELBUNDLE_CONFIG": str(config)})
    app = start(["python", str(program), str(tmp_path / "stop")], env, tmp_path, name="app")
    wait_until(lambda: "alert rules are off" in app.output, app, "the rule problem was not reported")
    return app


def wait_until(condition: Callable[[], object], app: Program, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert app.process.poll() is None, f"the app exited ({app.process.returncode}):\n{app.output}"
        assert time.monotonic() < deadline, f"{what}:\n{app.output}"
        time.sleep(0.1)


def alerts_sent(sink: Sink) -> list[str]:
    return [alert["labels"]["alertname"] for _, _, body in sink.requests for alert in body["alerts"]]


def test_a_rule_file_fixed_after_a_bad_start_is_loaded_and_alerts(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """The rules stayed off until a restart: the manager, its file watch and its SIGHUP
    handler were only set up for a config without problems."""
    sink = Sink()
    app = start_failing_app(tmp_path, sink, otlp_receiver)
    try:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules.read_text().replace("eror_count", "error_count"))
        os.utime(rules, (time.time() + 5, time.time() + 5))  # a visibly newer mtime
        wait_until(lambda: "ShopErrors" in alerts_sent(sink), app, "the fixed rule did not alert")
        (tmp_path / "stop").touch()
        assert app.process.wait(30) == 0, app.output
    finally:
        app.stop()
        sink.close()
    assert "FAILING DONE" in app.output
    assert f"{tmp_path}/rules.yaml:8:15: expr: unknown aggregate 'eror_count'" in app.output


def test_sighup_after_a_bad_start_reloads_the_rules_and_does_not_kill_the_app(
    otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """`kill -HUP` terminated the app ("Hangup"): no handler was installed for a bad start."""
    sink = Sink()
    app = start_failing_app(tmp_path, sink, otlp_receiver)
    try:
        os.kill(app.process.pid, signal.SIGHUP)  # still bad: said again, the app runs on
        wait_until(lambda: "alert rules are still off" in app.output, app, "SIGHUP did not re-read the rules")
        rules = tmp_path / "rules.yaml"
        written = rules.stat().st_mtime
        rules.write_text(rules.read_text().replace("eror_count", "error_count"))
        os.utime(rules, (written, written))  # the same mtime: the file watch sees no change ...
        time.sleep(3)  # ... at its checks (every 2 s)
        assert alerts_sent(sink) == []
        os.kill(app.process.pid, signal.SIGHUP)  # ... SIGHUP reads the files anyway
        wait_until(lambda: "ShopErrors" in alerts_sent(sink), app, "SIGHUP did not load the fixed rule")
        (tmp_path / "stop").touch()
        assert app.process.wait(30) == 0, app.output
    finally:
        app.stop()
        sink.close()
    assert "FAILING DONE" in app.output

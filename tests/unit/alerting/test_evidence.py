"""Evidence: what failed, read from an alert's exemplar spans and their traces' logs, scrubbed, and
rendered by every channel for its medium."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from otelbundle.alerting.alert import Alert, Evidence
from otelbundle.alerting.engine import Engine
from otelbundle.alerting.notify.alertmanager import alertmanager_payload
from otelbundle.alerting.notify.email import email_message
from otelbundle.alerting.notify.pagerduty import pagerduty_event
from otelbundle.alerting.notify.slack import slack_escape, slack_payload
from otelbundle.alerting.notify.webhook import webhook_payload
from otelbundle.cli.ruletest import run_test_file
from otelbundle.scrub import Scrubber
from tests.unit.alerting.helpers import Recorder, config_from
from tests.unit.scrub.test_rules import CAUGHT

RULES = """
groups:
  - name: g
    interval: 1h
    rules:
      - alert: CheckoutErrors
        spans: {service: shop, kind: server}
        expr: error_count > 0
        labels: {severity: critical}
        annotations: {summary: "checkouts fail"}
"""
# The same rule grouped by route, its summary quoting the route: group-by values are labels,
# and labels reach every channel (and Alertmanager) as they are.
GROUPED = RULES.replace(
    "expr: error_count > 0", "expr: error_count > 0\n        group_by: [http.route]"
).replace(
    'annotations: {summary: "checkouts fail"}', 'annotations: {summary: "fails on {{ $labels.http_route }}"}'
)
LINK = 'generator_url: "http://jaeger:16686/trace/{{ $exemplar.trace_id }}"\n'


@dataclass
class App:
    engine: Engine
    tracer_provider: TracerProvider
    log: logging.Logger
    now: float = 1000.0

    def request(self, name: str = "POST /checkout", route: str = "/checkout", fail: str = "") -> int:
        """One server request; ``fail`` raises ValueError(fail) inside it, logged with logger.exception."""
        tracer = self.tracer_provider.get_tracer("app")
        trace_id = 0
        try:
            with tracer.start_as_current_span(
                name, kind=SpanKind.SERVER, attributes={"http.route": route}
            ) as span:
                trace_id = span.get_span_context().trace_id
                self.log.info("checkout of 1 x APPLE")
                if fail:
                    try:
                        raise ValueError(fail)
                    except ValueError:
                        self.log.exception("payment failed")
                        raise
        except ValueError:
            pass
        return trace_id

    def fold(self) -> list[Alert]:
        self.now += 1
        return self.engine.fold(self.now)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    yield from make_app(tmp_path, Scrubber())


def make_app(tmp_path: Path, scrubber: object | None, rules: str = RULES) -> Iterator[App]:
    engine = Engine(config_from(tmp_path, rules, LINK), Recorder(), clock=lambda: 1000.0, scrubber=scrubber)  # type: ignore[arg-type]
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    tracer_provider.add_span_processor(engine.processor)
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(engine.log_intake)
    handler = LoggingHandler(logger_provider=logger_provider)
    log = logging.getLogger("shop.checkout")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    yield App(engine, tracer_provider, log)
    log.removeHandler(handler)
    log.propagate = True


def test_the_alert_says_which_exception_in_which_span_with_the_link_and_log_lines(app: App) -> None:
    app.request()  # a good request, in its own trace
    trace_id = app.request(fail="card declined for order 42")
    (alert,) = app.fold()
    assert alert.status == "firing" and len(alert.evidence) == 1
    evidence = alert.evidence[0]
    assert evidence.trace_id == format(trace_id, "032x")
    assert evidence.exception == "ValueError: card declined for order 42"
    assert (evidence.span_name, evidence.route, evidence.span) == (
        "POST /checkout",
        "/checkout",
        "POST /checkout",
    )
    assert evidence.trace_url == f"http://jaeger:16686/trace/{trace_id:032x}"
    assert [line.split(" ", 1)[1] for line in evidence.log_lines] == [
        "INFO shop.checkout: checkout of 1 x APPLE",
        "ERROR shop.checkout: payment failed (ValueError)",
    ]
    assert alert.annotations_with_evidence == {
        "summary": "checkouts fail",
        "trace_ids": evidence.trace_id,
        "exception": "ValueError: card declined for order 42",
        "span": "POST /checkout",
        "trace_url": evidence.trace_url,
        "logs": "\n".join(evidence.log_lines),
    }


def test_the_exception_comes_from_the_logger_exception_record_when_the_span_has_no_event(app: App) -> None:
    tracer = app.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span(
        "GET /items/{id}", kind=SpanKind.SERVER, attributes={"http.route": "/items/{id}"}
    ) as span:
        try:
            raise KeyError("sku-9")
        except KeyError:
            app.log.exception("lookup failed")  # handled: the span gets no exception event
        span.set_status(StatusCode.ERROR)
    (alert,) = app.fold()
    evidence = alert.evidence[0]
    assert evidence.exception == "KeyError: sku-9"
    assert evidence.span == "GET /items/{id}"  # the route adds nothing to the name


def test_a_route_unlike_the_name_is_shown_and_resolved_alerts_carry_none(tmp_path: Path, app: App) -> None:
    app.request(name="checkout", route="/checkout", fail="x")
    (alert,) = app.fold()
    assert alert.evidence[0].span == "checkout (route /checkout)"
    app.now += 3600 * 2
    resolved = app.engine.evaluate(app.now)
    assert [a.status for a in resolved] == ["resolved"] and resolved[0].evidence == ()


def test_without_a_scrubber_only_the_type_and_the_link_go_out(tmp_path: Path) -> None:
    app = next(make_app(tmp_path, None))
    app.request(fail="password=hunter2")
    (alert,) = app.fold()
    evidence = alert.evidence[0]
    assert (evidence.exception, evidence.span_name, evidence.log_lines) == ("ValueError", "", ())
    assert evidence.trace_url.startswith("http://jaeger:16686/trace/")


# ---- no secret reaches a channel -------------------------------------------------------------


def secret_of(raw: str, scrubbed: str) -> str:
    """The part of ``raw`` the scrubber replaced."""
    start = 0
    while start < min(len(raw), len(scrubbed)) and raw[start] == scrubbed[start]:
        start += 1
    end = 0
    while end < min(len(raw), len(scrubbed)) - start and raw[-1 - end] == scrubbed[-1 - end]:
        end += 1
    return raw[start : len(raw) - end]


def everything_sent(alert: Alert) -> str:
    """Every channel's rendering of ``alert``, as the bytes on the wire would carry it."""
    message = email_message([alert], "a@example.com", ["b@example.com"])
    email = "\n".join(part.get_content() for part in message.iter_parts())
    return "\n".join(
        [
            json.dumps(slack_payload([alert])),
            json.dumps(pagerduty_event(alert, "key")),
            json.dumps(webhook_payload([alert])),
            json.dumps(alertmanager_payload([alert])),
            email,
        ]
    )


def variants(secret: str) -> set[str]:
    """The secret as each medium would escape it (so that escaping cannot hide a leak)."""
    return {
        secret,
        html.escape(secret),
        slack_escape(secret),
        json.dumps(secret)[1:-1],
        json.dumps(slack_escape(secret))[1:-1],
    }


def leaks(app: App, raw: str) -> list[str]:
    scrubbed = Scrubber().text(raw)
    secret = secret_of(raw, scrubbed)
    assert len(secret) >= 3, (raw, scrubbed)
    # the whole value of each text evidence quotes, as the scrub tests give it
    app.request(name=raw, route=raw, fail=raw)
    app.log.error(raw)
    (alert,) = [a for a in app.fold() if a.status == "firing"] or [None]  # type: ignore[list-item]
    assert alert is not None and alert.evidence
    # Trace ids, fingerprints, and the 8-digit trace prefix Slack and PagerDuty show: random
    # hex noise (a prefix such as "4abc1f0e" read as a leak of "abc" one run in a few hundred).
    sent = re.sub(r"[0-9a-f]{16,32}|(?<=trace )[0-9a-f]{8}", "<id>", everything_sent(alert))
    return [variant for variant in variants(secret) if variant in sent]


@pytest.mark.parametrize(("raw", "scrubbed"), CAUGHT)
def test_no_secret_of_the_scrub_tests_reaches_a_channel(tmp_path: Path, raw: str, scrubbed: str) -> None:
    app = next(make_app(tmp_path, Scrubber()))
    assert leaks(app, raw) == []


class Unscrubbed:
    def text(self, value: str, where: str = "") -> str:
        return value

    def span_name(self, name: str, attributes: object) -> str:
        return name


def test_the_leak_check_finds_a_secret_when_nothing_scrubs(tmp_path: Path) -> None:
    raw, _ = CAUGHT[0]
    app = next(make_app(tmp_path, Unscrubbed()))
    assert leaks(app, raw) != []


@pytest.mark.parametrize(("raw", "scrubbed"), CAUGHT)
def test_no_secret_in_a_group_by_value_reaches_a_channel(tmp_path: Path, raw: str, scrubbed: str) -> None:
    app = next(make_app(tmp_path, Scrubber(), GROUPED))
    assert leaks(app, raw) == []


def test_a_group_by_label_is_the_scrubbed_value(tmp_path: Path) -> None:
    app = next(make_app(tmp_path, Scrubber(), GROUPED))
    raw = "/pay?api_key=sk_live_0123456789abcdef"
    app.request(route=raw, fail="declined")
    (alert,) = [a for a in app.fold() if a.status == "firing"]
    assert alert.labels["http_route"] == Scrubber().text(raw, "http.route") != raw
    assert alert.annotations["summary"] == f"fails on {alert.labels['http_route']}"


TOKEN = "ghp_" + "Ab1" * 12  # a GitHub token: caught by its shape, whole


def test_a_secret_at_the_length_cut_is_not_sent_in_part(tmp_path: Path) -> None:
    """Texts were cut to 500 characters before scrubbing: a token across the cut lost the
    length its shape rule needs, and its first half went out."""
    app = next(make_app(tmp_path, Scrubber()))
    app.log.error("%s %s trailing words", "x" * 480, TOKEN)
    app.request(fail="y" * 485 + " " + TOKEN + " more")
    (alert,) = app.fold()
    sent = everything_sent(alert)
    assert alert.evidence and "y" * 400 in sent
    assert TOKEN[:12] not in sent


def test_a_span_named_by_its_sql_loses_the_literals_as_exported(tmp_path: Path) -> None:
    app = next(make_app(tmp_path, Scrubber(), RULES.replace("kind: server", "kind: client")))
    tracer = app.tracer_provider.get_tracer("app")
    statement = "UPDATE users SET pin = '8675309' WHERE id = 7"
    with tracer.start_as_current_span(
        statement, kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}
    ) as span:
        span.set_status(StatusCode.ERROR)
    (alert,) = app.fold()
    assert alert.evidence[0].span_name == Scrubber().span_name(statement, {"db.system": "postgresql"})
    assert "8675309" not in everything_sent(alert)


@pytest.mark.parametrize(
    "body",
    [{"password": "hunter2-s3cr3t"}, {"Cookie": "sessionid=hunter2-s3cr3t"}, {"api_key": "hunter2-s3cr3t"}],
)
def test_a_structured_log_body_carries_no_secret_into_a_channel(tmp_path: Path, body: dict[str, str]) -> None:
    app = next(make_app(tmp_path, Scrubber()))
    with app.tracer_provider.get_tracer("app").start_as_current_span(
        "POST /checkout", kind=SpanKind.SERVER
    ) as span:
        app.log.error(body)
        span.set_status(StatusCode.ERROR)
    (alert,) = app.fold()
    assert alert.evidence[0].log_lines
    assert "hunter2" not in everything_sent(alert)


# ---- each channel, its medium ------------------------------------------------------------------

EVIDENCE = Evidence(
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    span_name="POST /checkout",
    route="/checkout",
    exception_type="ValueError",
    exception_message="<!channel> `rm` & co",
    trace_url="http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736",
    log_lines=("12:00:00.000Z ERROR shop: payment failed ```", "12:00:00.001Z INFO shop: <b>done</b>"),
)
ALERT = Alert(
    labels={"alertname": "CheckoutErrors", "severity": "critical"},
    annotations={"summary": "checkouts fail"},
    status="firing",
    starts_at=__import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").timezone.utc),
    ends_at=__import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").timezone.utc),
    trace_ids=(EVIDENCE.trace_id,),
    evidence=(EVIDENCE,),
)


def test_slack_renders_evidence_as_escaped_blocks_and_a_code_block_that_cannot_be_closed() -> None:
    blocks = slack_payload([ALERT])["blocks"]
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert (
        ":warning: *ValueError*: &lt;!channel&gt; `rm` &amp; co\n"
        "`POST /checkout` · <http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736|trace 4bf92f35>"
    ) in texts
    code = next(t for t in texts if t.startswith("```"))
    assert code.count("```") == 2 and code.endswith("```")
    assert "&lt;b&gt;done&lt;/b&gt;" in code


def test_pagerduty_custom_details_and_links() -> None:
    event = pagerduty_event(ALERT, "key")
    assert event["payload"]["custom_details"]["evidence"] == [
        {
            "trace_id": EVIDENCE.trace_id,
            "exception": "ValueError: <!channel> `rm` & co",
            "span": "POST /checkout",
            "trace_url": EVIDENCE.trace_url,
            "logs": list(EVIDENCE.log_lines),
        }
    ]
    assert {"href": EVIDENCE.trace_url, "text": "trace 4bf92f35"} in event["links"]


def test_email_has_evidence_rows_escaped_and_log_lines_in_pre() -> None:
    message = email_message([ALERT], "a@example.com", ["b@example.com"])
    plain, rich = (part.get_content() for part in message.iter_parts())
    assert "  evidence 1 exception: ValueError: <!channel> `rm` & co" in plain
    assert "  evidence 1 logs: 12:00:00.000Z ERROR shop: payment failed ```\n      12:00:00.001Z" in plain
    assert (
        "<pre>12:00:00.000Z ERROR shop: payment failed ```\n12:00:00.001Z INFO shop: &lt;b&gt;done&lt;/b&gt;</pre>"
        in rich
    )
    assert "<b>done</b>" not in rich


def test_webhook_and_alertmanager_carry_it_as_annotations_and_the_rules_own_win() -> None:
    mine = Alert(**{**ALERT.__dict__, "annotations": {"summary": "s", "exception": "see runbook"}})
    body = webhook_payload([mine])["alerts"][0]["annotations"]
    assert body["exception"] == "see runbook" and body["span"] == "POST /checkout"
    assert body["logs"] == "\n".join(EVIDENCE.log_lines) and body["trace_url"] == EVIDENCE.trace_url
    assert alertmanager_payload([mine])[0]["annotations"] == body


# ---- rules test ------------------------------------------------------------------------------------


def test_rules_test_compares_evidence_annotations(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[3] / "examples" / "rules"
    (tmp_path / "storefront.rules.yaml").write_text((examples / "storefront.rules.yaml").read_text())
    test = (examples / "storefront.rules.test.yaml").read_text()
    (tmp_path / "t.yaml").write_text(test)
    assert run_test_file(str(tmp_path / "t.yaml")) == []
    (tmp_path / "t.yaml").write_text(
        test.replace('exception: "ValueError: no price', 'exception: "KeyError: no price')
    )
    (failure,) = run_test_file(str(tmp_path / "t.yaml"))
    assert "'exception': 'ValueError: no price for sku APPLE'" in failure


def test_evidence_is_printable_valid_text(app: App) -> None:
    """Colour codes, NUL and lone surrogates (a file name decoded with surrogateescape) went into
    the evidence as logged: garbage in Slack and mail, and an email that could not be encoded."""
    with app.tracer_provider.get_tracer("app").start_as_current_span(
        "GET /files", kind=SpanKind.SERVER
    ) as span:
        app.log.error("\x1b[31mexport\x1b[0m failed for /srv/%s.csv\x00", "\udcff")
        span.set_status(StatusCode.ERROR)
    (alert,) = app.fold()
    line = alert.evidence[0].log_lines[-1]
    assert line.endswith("ERROR shop.checkout: export failed for /srv/\ufffd.csv")


@pytest.mark.parametrize("quote", ["'", '"'])
def test_a_quoted_secret_across_the_log_line_cut_is_not_sent(app: App, quote: str) -> None:
    """A log line is kept cut to 2000 characters before it is scrubbed: a quoted secret holding
    spaces, cut inside, lost the closing quote the scrubber knows it by, and its start went out."""
    secret = " ".join(f"w{number:04d}" for number in range(400))  # 2400 characters, spaces in it
    with app.tracer_provider.get_tracer("app").start_as_current_span(
        "POST /checkout", kind=SpanKind.SERVER
    ) as span:
        app.log.error(
            "config {%sclient_secret%s: %s%s%s, %suser%s: %sbob%s}", *[quote] * 3, secret, *[quote] * 5
        )
        span.set_status(StatusCode.ERROR)
    (alert,) = app.fold()
    assert "client_secret" in alert.evidence[0].log_lines[-1]
    assert "w0001" not in everything_sent(alert)

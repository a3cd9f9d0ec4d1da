"""Places a secret used to leave the process through: each is scrubbed now, and the data around it stays.

Captured headers as the instrumentations name them (``http.request.header.proxy_authorization``),
structured log attributes from ``extra=`` (maps, lists, bytes), bytes bodies, span event names,
a log record's event name, instrumentation-scope attributes, and values quoted outside a span
(alert labels and evidence, through :meth:`Scrubber.text` with the attribute's name).
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelbundle.scrub import KEY_MASK, Scrubber, log_step, span_step
from otelbundle.sdk.export.wrapper import LOGS, SPANS, ExportWrapper, log_exporter, span_exporter

SECRET = "s3cr3t-hunter2"
URL = f"http://shop/stock/3?api_key={SECRET}&page=2"
SCRUBBED_URL = "http://shop/stock/3?api_key=REDACTED&page=2"


@pytest.mark.parametrize(
    "key",
    [
        "http.request.header.authorization",
        "http.request.header.proxy_authorization",  # how the instrumentations write Proxy-Authorization
        "http.request.header.cookie",
        "http.response.header.set_cookie",
        "http.request.header.x_api_key",
        "http.request.header.proxy-authorization",  # other SDKs keep the dash
        "rpc.grpc.request.metadata.authorization",
        "Authorization",  # a map body's or a nested extra= dict's own key
        "cookie",
        "user.password",
        "app.api_token",
    ],
)
def test_credential_keys_are_masked_however_they_are_written(key: str) -> None:
    assert Scrubber().key_is_masked(key)
    assert Scrubber().attributes({key: ("Basic dXNlcjpwYXNz",)}) == {key: KEY_MASK}


@pytest.mark.parametrize(
    "key",
    [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.request.max_tokens",
        "gen_ai.token.type",
        "llm.token_count.prompt",
        "cookie_consent",
        "http.request.header.user_agent",
        "monkey",
    ],
)
def test_keys_that_only_look_like_credentials_keep_their_values(key: str) -> None:
    """Token counts are numbers the GenAI dashboards need; "****" would also merge their series."""
    assert not Scrubber().key_is_masked(key)
    assert Scrubber().attributes({key: 42}) is None


def test_nested_log_attributes_are_scrubbed_all_the_way_down() -> None:
    scrubber = Scrubber()
    attributes = {
        "form": {"user": "bob", "password": SECRET, "next": URL},
        "calls": [{"url": URL, "status": 200}, [URL, 3]],
        "raw": f"password={SECRET}".encode(),
        "blob": b"\xff\xfe binary password=" + SECRET.encode() + b" \x00",
        "plain": b"\xff\xfe nothing here \x00",
        "count": 3,
    }
    assert scrubber.attributes(attributes) == {
        "form": {"user": "bob", "password": KEY_MASK, "next": SCRUBBED_URL},
        "calls": [{"url": SCRUBBED_URL, "status": 200}, [SCRUBBED_URL, 3]],
        "raw": b"password=REDACTED",
        "blob": b"\xff\xfe binary password=REDACTED \x00",  # bytes that are not UTF-8 stay as they were
        "plain": b"\xff\xfe nothing here \x00",
        "count": 3,
    }
    assert attributes["form"]["password"] == SECRET  # the app's own objects are not changed


def test_bodies_of_bytes_and_nested_structures() -> None:
    scrubber = Scrubber()
    assert scrubber.body(f"token={SECRET}".encode()) == b"token=REDACTED"
    assert scrubber.body(bytearray(b"clean")) == bytearray(b"clean")
    assert scrubber.body({"req": {"headers": {"Authorization": f"Basic {SECRET}"}}, "n": (URL,)}) == {
        "req": {"headers": {"Authorization": KEY_MASK}},
        "n": (SCRUBBED_URL,),
    }


def _spans(scrubber: Scrubber) -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    out = InMemorySpanExporter()
    wrapper = ExportWrapper(SPANS, out, prepare=span_step(scrubber, hash_resources=True))
    provider.add_span_processor(SimpleSpanProcessor(span_exporter(wrapper)))
    return provider, out


def test_event_names_and_instrumentation_scope_attributes_are_scrubbed() -> None:
    provider, out = _spans(Scrubber())
    tracer = provider.get_tracer("shop", attributes={"db.dsn": f"postgresql://app:{SECRET}@db/shop"})
    with tracer.start_as_current_span("checkout") as span:
        span.add_event(f"retrying {URL}", {"attempt": 2})
        span.add_event("exception", {"exception.message": f"failed: {URL}"})
    (exported,) = out.get_finished_spans()
    assert [(e.name, dict(e.attributes or {})) for e in exported.events] == [
        (f"retrying {SCRUBBED_URL}", {"attempt": 2}),
        ("exception", {"exception.message": f"failed: {SCRUBBED_URL}"}),
    ]
    scope = exported.instrumentation_scope
    assert scope is not None and scope.name == "shop"
    assert dict(scope.attributes) == {"db.dsn": "postgresql://REDACTED@db/shop"}


def test_a_clean_span_of_a_clean_scope_is_passed_on_as_it_is() -> None:
    provider, out = _spans(Scrubber())
    tracer = provider.get_tracer("shop", attributes={"team": "payments"})
    with tracer.start_as_current_span("checkout") as span:
        span.add_event("retrying", {"attempt": 2})
    (exported,) = out.get_finished_spans()
    assert exported.instrumentation_scope is span.instrumentation_scope  # type: ignore[attr-defined]
    assert exported.events[0].name == "retrying"


def test_a_log_records_event_name_and_scope_attributes_are_scrubbed() -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "shop"}))
    out = InMemoryLogRecordExporter()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(log_exporter(ExportWrapper(LOGS, out, prepare=log_step(Scrubber()))))
    )
    logger = provider.get_logger("shop", attributes={"endpoint": URL})
    logger.emit(body={"raw": f"token={SECRET}".encode()}, event_name=f"login?token={SECRET}")
    (exported,) = out.get_finished_logs()
    assert exported.log_record.event_name == "login?token=REDACTED"
    assert exported.log_record.body == {"raw": b"token=REDACTED"}
    assert exported.instrumentation_scope is not None
    assert dict(exported.instrumentation_scope.attributes) == {"endpoint": SCRUBBED_URL}


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        # What alert labels and evidence pass: a value with its attribute's name, as exported.
        ("http.request.header.authorization", f"Basic {SECRET}", KEY_MASK),
        ("http.request.header.x_api_key", SECRET, KEY_MASK),
        ("db.statement", f"SELECT 1 FROM t WHERE code = '{SECRET}'", "SELECT ? FROM t WHERE code = ?"),
        ("url.full", URL, SCRUBBED_URL),
        (
            "log.body",
            f"{{'user': 'bob', 'secret_code': '{SECRET}'}}",
            "{'user': 'bob', 'secret_code': \"REDACTED\"}",
        ),
        ("span.name", "GET /stock/<int:item>", "GET /stock/<int:item>"),
    ],
)
def test_text_under_an_attribute_name_is_scrubbed_as_that_attribute(
    where: str, value: str, expected: str
) -> None:
    assert Scrubber().text(value, where) == expected


def test_an_allowed_key_is_not_masked_in_text_either() -> None:
    scrubber = Scrubber(allowed_keys=["http.request.header.x_api_key"])
    assert scrubber.text("tenant-7", "http.request.header.x_api_key") == "tenant-7"


def test_the_hook_sees_nested_values_under_their_attribute_key() -> None:
    seen: list[tuple[str, Any]] = []

    def hook(where: str, value: str) -> str:
        seen.append((where, value))
        return value.replace("CUSTOMER-7", "CUSTOMER-?")

    scrubber = Scrubber(hook=hook)
    assert scrubber.attributes({"order": {"customer": "CUSTOMER-7"}}) == {"order": {"customer": "CUSTOMER-?"}}
    assert ("order", "CUSTOMER-7") in seen


def test_header_pairs_in_lists_lose_their_credential_values() -> None:
    """An ASGI scope in `extra=` holds its headers as (name, value) pairs, not a map; so does
    `parse_qsl`'s result. A pair whose name is a credential's gets the mask, as a map's key does."""
    scope = {
        "scope": {
            "headers": [
                (b"authorization", b"Digest username=bob, response=6629fae4"),
                (b"x-api-key", b"S3KR1T"),
                (b"accept", b"text/html"),
            ],
            "form": [["user", "bob"], ["password", SECRET], ["next", URL]],
        }
    }
    assert Scrubber().attributes(scope) == {
        "scope": {
            "headers": [(b"authorization", KEY_MASK), (b"x-api-key", KEY_MASK), (b"accept", b"text/html")],
            "form": [["user", "bob"], ["password", KEY_MASK], ["next", SCRUBBED_URL]],
        }
    }
    assert Scrubber().body((("Cookie", "sid=abc"), ("Host", "shop"))) == (
        ("Cookie", KEY_MASK),
        ("Host", "shop"),
    )


def test_counts_of_tokens_and_flags_under_credential_named_keys_keep_their_values() -> None:
    """`llm.usage.total_tokens: 1234` and `app.password_reset: True` used to become "****"
    (dashboards summing token counts got strings). Neither a bool nor a count can be a
    credential; a string under those keys, and a number under a password's, are masked."""
    scrubber = Scrubber()
    assert scrubber.attributes(
        {
            "llm.usage.total_tokens": 1234,
            "app.token_count": 7,
            "app.password_reset": True,
            "app.max_tokens": "100",
            "app.password": 1234,
            "app.token": 123456,
            "app.secret_tokens": 5,
        }
    ) == {
        "llm.usage.total_tokens": 1234,
        "app.token_count": 7,
        "app.password_reset": True,
        "app.max_tokens": KEY_MASK,
        "app.password": KEY_MASK,
        "app.token": KEY_MASK,
        "app.secret_tokens": KEY_MASK,
    }
    assert scrubber.body({"usage": {"prompt_tokens": 12, "api_key": 5}, "pairs": [("total_tokens", 3)]}) == {
        "usage": {"prompt_tokens": 12, "api_key": KEY_MASK},
        "pairs": [("total_tokens", 3)],
    }

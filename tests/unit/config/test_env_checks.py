"""The environment check: each value the SDK would crash on or misread is named once and replaced.

Checked through :func:`apply_defaults`, as the distro applies it, so each case
asserts the line a person reads and the value the SDK then finds.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, EntryPoints

import pytest

from otelbundle.config import env_checks, environment
from otelbundle.distro.defaults import apply_defaults

# Where 0 crashes or is misread: the SDK's batch span processor, our log processor and
# metric reader, the OTLP exporters ("cannot set connect timeout to 0").
ABOVE_ZERO = [
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
]
# 0: the SDK does not use it, shutdown does not wait for the last log export, exit for the flush.
ZERO_IS_FINE = ["OTEL_BSP_EXPORT_TIMEOUT", "OTEL_BLRP_EXPORT_TIMEOUT", "OTELBUNDLE_SHUTDOWN_TIMEOUT"]
# Parsed with float() (seconds, or the metric reader's milliseconds): inf and nan parse.
FLOATS = [
    name
    for name in ABOVE_ZERO + ZERO_IS_FINE
    if name.startswith(("OTEL_EXPORTER_", "OTELBUNDLE_", "OTEL_METRIC_EXPORT_"))
]
# Unset, a variable gets the distro's default where it has one, else the SDK's applies.
AFTER_UNSET = environment.OTEL_DEFAULTS


def checked(name: str, value: str) -> tuple[list[str], str | None]:
    """The messages apply_defaults gives for ``name=value``, and what the variable is after."""
    env = {"OTEL_SERVICE_NAME": "svc", name: value}
    messages = apply_defaults(env)
    return messages, env.get(name)


def test_these_cases_cover_every_numeric_rule() -> None:
    assert {rule.name for rule in env_checks.NUMBERS} == set(ABOVE_ZERO + ZERO_IS_FINE)
    assert {rule.name for rule in env_checks.NUMBERS if rule.kind is float} == set(FLOATS)


@pytest.mark.parametrize("name", ABOVE_ZERO)
@pytest.mark.parametrize("value", ["0", " 0 "])
def test_zero_where_the_sdk_needs_a_positive_value_is_named_and_unset(name: str, value: str) -> None:
    messages, after = checked(name, value)
    assert messages == [f"otelbundle: {name}={value!r} is not above 0; ignoring it."]
    assert after == AFTER_UNSET.get(name)


@pytest.mark.parametrize("name", ZERO_IS_FINE)
def test_zero_is_kept_where_it_means_do_not_wait(name: str) -> None:
    assert checked(name, "0") == ([], "0")


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "Infinity"])
def test_a_non_finite_number_is_named_and_unset(name: str, value: str) -> None:
    """The OTLP exporters take inf and then fail every export; inf as the exit-time budget raises."""
    messages, after = checked(name, value)
    assert messages == [f"otelbundle: {name}={value!r} is not a finite number; ignoring it."]
    assert after == AFTER_UNSET.get(name)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1e10"),  # seconds: beyond threading.TIMEOUT_MAX
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "1e300"),
        ("OTELBUNDLE_SHUTDOWN_TIMEOUT", "1e10"),
        ("OTEL_BSP_SCHEDULE_DELAY", "10000000000000"),  # milliseconds
        ("OTEL_METRIC_EXPORT_INTERVAL", "10000000000000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", str(2**63)),  # deque(maxlen=...) overflows
    ],
)
def test_a_value_too_large_to_wait_on_or_allocate_is_named_and_unset(name: str, value: str) -> None:
    messages, after = checked(name, value)
    assert messages == [f"otelbundle: {name}={value!r} is too large; ignoring it."]
    assert after == AFTER_UNSET.get(name)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "9000000000"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1"),
        ("OTELBUNDLE_SHUTDOWN_TIMEOUT", "2.5"),
    ],
)
def test_small_and_large_usable_values_are_kept(name: str, value: str) -> None:
    assert checked(name, value) == ([], value)


@pytest.mark.parametrize("name", ["OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT"])
@pytest.mark.parametrize("value", ["500.5", "1e3", "0.5"])
def test_metric_export_times_with_a_fraction_are_kept_as_the_sdk_reads_them(name: str, value: str) -> None:
    """The SDK's periodic reader and ours read both with float(); they were refused as not integers."""
    assert checked(name, value) == ([], value)


@pytest.mark.parametrize("name", ["OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0.0", "is not above 0"),
        ("-0.5", "is negative"),
        ("abc", "is not a number"),
        ("nan", "is not a finite number"),
    ],
)
def test_metric_export_times_still_refuse_what_cannot_be_waited_on(
    name: str, value: str, reason: str
) -> None:
    messages, after = checked(name, value)
    assert messages == [f"otelbundle: {name}={value!r} {reason}; ignoring it."]
    assert after is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "is not a number"),
        ("inf", "is not a finite number"),
        ("nan", "is not a finite number"),
        ("-1", "is negative"),
    ],
)
def test_the_shutdown_timeout_is_checked_like_the_otel_numbers(value: str, reason: str) -> None:
    """It was read quietly: abc meant 5 s unsaid, inf an OverflowError in an atexit callback."""
    messages, after = checked("OTELBUNDLE_SHUTDOWN_TIMEOUT", value)
    assert messages == [f"otelbundle: OTELBUNDLE_SHUTDOWN_TIMEOUT={value!r} {reason}; ignoring it."]
    assert after is None
    assert environment.shutdown_timeout({}) == 5.0


@pytest.mark.parametrize(
    ("value", "seconds"), [("inf", 5.0), ("nan", 5.0), ("1e10", 5.0), ("-1", 0.0), ("2", 2.0)]
)
def test_the_shutdown_timeout_read_without_the_distro_is_finite(value: str, seconds: float) -> None:
    assert environment.shutdown_timeout({"OTELBUNDLE_SHUTDOWN_TIMEOUT": value}) == seconds


@pytest.mark.parametrize(
    "name", ["OTELBUNDLE_FLUSH_ON_SIGTERM", "OTELBUNDLE_SCRUB", "OTEL_PYTHON_LOG_CORRELATION"]
)
@pytest.mark.parametrize("value", ["maybe", "enabled", "2"])
def test_a_flag_that_is_neither_true_nor_false_is_named_and_unset(name: str, value: str) -> None:
    """flag() reads it as false: OTELBUNDLE_FLUSH_ON_SIGTERM=maybe turned the flush off unsaid."""
    messages, after = checked(name, value)
    assert messages == [f"otelbundle: {name}={value!r} is not true or false; ignoring it."]
    assert after is None
    assert environment.flag({}, name) is (environment.TABLE[name].unset == "true")


@pytest.mark.parametrize("value", ["true", "False", " on ", "0", "yes", ""])
def test_the_sigterm_flag_keeps_true_and_false_words(value: str) -> None:
    assert checked("OTELBUNDLE_FLUSH_ON_SIGTERM", value) == ([], value)


# Exporter names. The installed entry points are faked, so each message is exact here; the last
# tests read the real ones (the SDK's and the OTLP exporters', pinned by pyproject.toml).
INSTALLED = ("console", "otlp", "otlp_proto_grpc", "otlp_proto_http")
KNOWN = "known: console, otlp, otlp_proto_grpc, otlp_proto_http; or none on its own"
EXPORTERS = ["OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"]


def fake_installed(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...] = INSTALLED) -> list[int]:
    """Install ``names`` in each exporter group; the returned list counts the scans."""
    scans: list[int] = []

    def entry_points() -> EntryPoints:
        scans.append(1)
        return EntryPoints(
            EntryPoint(name, f"x:{name}", group)
            for _, group in env_checks.EXPORTER_GROUPS.values()
            for name in (*names, "otelbundle_console")  # a reader of ours: valid, not listed
        )

    monkeypatch.setattr(env_checks, "entry_points", entry_points)
    return scans


@pytest.mark.parametrize("name", EXPORTERS)
@pytest.mark.parametrize(
    ("value", "unknown", "after"),
    [
        ("otlp,bogus", "an unknown exporter 'bogus'", "otlp"),
        ("bogus, console", "an unknown exporter 'bogus'", "console"),
        ("otlp,none", "an unknown exporter 'none'", "otlp"),  # none means no exporter only alone
        ("OTLP,console", "an unknown exporter 'OTLP'", "console"),  # the SDK matches case
        ("zipkin,otlp,jaeger", "unknown exporters 'zipkin', 'jaeger'", "otlp"),
        ("otlp,", "an unknown exporter ''", "otlp"),
    ],
)
def test_an_unknown_exporter_among_known_ones_is_dropped(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, unknown: str, after: str
) -> None:
    """The SDK raised "Requested component 'bogus' not found": all of otelbundle's setup fell back."""
    fake_installed(monkeypatch)
    messages, kept = checked(name, value)
    assert messages == [f"otelbundle: {name}={value!r} names {unknown} ({KNOWN}); using {after!r} instead."]
    assert kept == after


@pytest.mark.parametrize("name", EXPORTERS)
@pytest.mark.parametrize("value", ["bogus", "bogus,zipkin"])
def test_when_no_exporter_is_known_the_default_otlp_is_used(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    fake_installed(monkeypatch)
    messages, after = checked(name, value)
    names = "an unknown exporter 'bogus'" if value == "bogus" else "unknown exporters 'bogus', 'zipkin'"
    assert messages == [
        f"otelbundle: {name}={value!r} names {names} ({KNOWN}); using 'otlp' instead (the default)."
    ]
    assert after == "otlp"


@pytest.mark.parametrize("name", EXPORTERS)
@pytest.mark.parametrize(
    "value", ["none", "None", " none ", "otlp", "otlp, console", "otlp_proto_http", "otelbundle_console"]
)
def test_known_exporters_and_none_are_kept(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    fake_installed(monkeypatch)
    assert checked(name, value) == ([], value)


@pytest.mark.parametrize(
    ("protocols", "message"),
    [
        ({}, None),  # the distro's http/protobuf
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "for grpc"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
            None,
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "for grpc"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "foo"}, None),  # replaced by http/protobuf first
    ],
)
def test_otlp_is_the_exporter_of_the_signals_protocol(
    monkeypatch: pytest.MonkeyPatch, protocols: dict[str, str], message: str | None
) -> None:
    """As the SDK resolves it: with only the HTTP exporter installed, otlp over gRPC is unknown."""
    fake_installed(monkeypatch, ("console", "otlp_proto_http"))
    env = {"OTEL_SERVICE_NAME": "svc", "OTEL_TRACES_EXPORTER": "otlp,console", **protocols}
    messages = [m for m in apply_defaults(env) if "EXPORTER=" in m]
    if message is None:
        assert messages == []
        assert env["OTEL_TRACES_EXPORTER"] == "otlp,console"
        return
    assert messages == [
        "otelbundle: OTEL_TRACES_EXPORTER='otlp,console' names an unknown exporter 'otlp' "
        "(otlp_proto_grpc, for grpc) (known: console, otlp_proto_http; or none on its own); "
        "using 'console' instead."
    ]
    assert env["OTEL_TRACES_EXPORTER"] == "console"


def test_entry_points_are_read_once_and_only_for_names_given(monkeypatch: pytest.MonkeyPatch) -> None:
    scans = fake_installed(monkeypatch)
    apply_defaults({"OTEL_SERVICE_NAME": "svc", "OTEL_LOGS_EXPORTER": "none"})  # and the others unset
    assert scans == []
    apply_defaults({"OTEL_SERVICE_NAME": "svc", **dict.fromkeys(EXPORTERS, "otlp,console")})
    assert scans == [1]


def test_the_installed_exporters_are_read_from_the_sdks_groups() -> None:
    messages, after = checked("OTEL_TRACES_EXPORTER", "otlp,bogus")
    assert messages == [
        "otelbundle: OTEL_TRACES_EXPORTER='otlp,bogus' names an unknown exporter 'bogus' "
        f"({KNOWN}); using 'otlp' instead."
    ]
    assert after == "otlp"
    for name in EXPORTERS:
        assert checked(name, "otlp_proto_grpc,otlp_proto_http,console,otlp") == (
            [],
            "otlp_proto_grpc,otlp_proto_http,console,otlp",
        )


# Endpoints: a bare host:port is the gRPC exporter's form; the HTTP exporter fails every export on it.
ENDPOINTS = list(env_checks.ENDPOINTS)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_an_endpoint_without_a_scheme_gets_http_when_the_signal_goes_over_http(name: str) -> None:
    messages, after = checked(name, "collector:4318")
    assert messages == [
        f"otelbundle: {name}='collector:4318' has no http:// or https://, which OTLP/HTTP needs; "
        "using 'http://collector:4318' instead."
    ]
    assert after == "http://collector:4318"


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("value", ["http://collector:4318", "HTTPS://collector:4318/v1/x", ""])
def test_http_and_https_endpoints_are_kept(name: str, value: str) -> None:
    assert checked(name, value) == ([], value)


def test_a_bare_endpoint_is_kept_where_every_signal_reading_it_goes_over_grpc() -> None:
    env = {"OTEL_SERVICE_NAME": "svc", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "collector:4317"
    assert apply_defaults(env) == []
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "collector:4317"
    # One signal over HTTP: the shared endpoint is fixed (the gRPC exporter reads http:// as well).
    env["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"] = "http/protobuf"
    assert len(apply_defaults(env)) == 1
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4317"
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "collector:4317"


def test_an_endpoint_of_another_scheme_is_named_and_unset() -> None:
    messages, after = checked("OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://collector:4317")
    assert messages == [
        "otelbundle: OTEL_EXPORTER_OTLP_ENDPOINT='grpc://collector:4317' is not an http:// or https:// URL, "
        "which OTLP/HTTP needs; ignoring it."
    ]
    assert after is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("user:s3cret@collector:4318", "'***@collector:4318' has no http://"),
        ("ftp://user:s3cret@collector/x@y", "'ftp://***@collector/x@y' is not an http://"),
        # A query (a token in it) is masked as the export failures mask it; it was shown whole.
        ("ftp://u:pw@h/?token=s3cret#s3cret", "'ftp://***@h/?***' is not an http://"),
        ("collector:4318/v1?api_key=s3cret", "'collector:4318/v1?***' has no http://"),
    ],
)
def test_an_endpoints_credentials_are_not_printed(value: str, shown: str) -> None:
    messages, _ = checked("OTEL_EXPORTER_OTLP_ENDPOINT", value)
    assert len(messages) == 1 and shown in messages[0] and "s3cret" not in messages[0], messages

"""Every default the distro sets is only a default: the user's value always wins."""

from __future__ import annotations

import pytest

from otelbundle.config import environment as settings
from otelbundle.distro.defaults import apply_defaults, multiprocessing_helper


@pytest.mark.parametrize("name", sorted(settings.OTEL_DEFAULTS))
def test_each_default_is_applied_when_unset(name: str) -> None:
    env: dict[str, str] = {"OTEL_SERVICE_NAME": "svc"}
    apply_defaults(env)
    assert env[name] == settings.OTEL_DEFAULTS[name]


USER_VALUES = {
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "console",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "12",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "host",
    "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION": "false",
    "OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS": "system.*",
    "OTEL_PYTHON_CONFIGURATOR": "configurator",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "512",
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup",
}


def test_every_default_has_a_user_value_case() -> None:
    assert set(USER_VALUES) == set(settings.OTEL_DEFAULTS)


@pytest.mark.parametrize(("name", "value"), sorted(USER_VALUES.items()))
def test_user_value_wins_over_each_default(name: str, value: str) -> None:
    env = {"OTEL_SERVICE_NAME": "svc", name: value}
    messages = apply_defaults(env)
    assert env[name] == value
    assert messages == []


def test_empty_user_value_is_still_the_users_choice() -> None:
    env = {"OTEL_SERVICE_NAME": "svc", "OTEL_LOGS_EXPORTER": ""}
    apply_defaults(env)
    assert env["OTEL_LOGS_EXPORTER"] == ""


def test_service_name_derived_from_program_with_one_message() -> None:
    env: dict[str, str] = {}
    messages = apply_defaults(env, argv=["/srv/shop/checkout.py"])
    assert env["OTEL_SERVICE_NAME"] == "checkout"
    assert len(messages) == 1
    assert "OTEL_SERVICE_NAME" in messages[0] and "'checkout'" in messages[0]


@pytest.mark.parametrize(
    "env",
    [{"OTEL_SERVICE_NAME": "mine"}, {"OTEL_RESOURCE_ATTRIBUTES": "team=a,service.name=mine"}],
)
def test_service_name_from_user_is_kept(env: dict[str, str]) -> None:
    before = dict(env)
    messages = apply_defaults(env, argv=["app.py"])
    assert env.get("OTEL_SERVICE_NAME") == before.get("OTEL_SERVICE_NAME")
    assert messages == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["app.py"], "app"),
        (["/srv/storefront/app.py"], "storefront"),
        (["/usr/bin/gunicorn", "-w", "2", "shop.wsgi:app"], "shop.wsgi"),
        # A bind address has a colon too: it was taken for the app (the service '127.0.0.1')
        (["gunicorn", "-b", "127.0.0.1:8000", "app:app"], "app"),
        (["gunicorn", "--bind=unix:/run/shop.sock", "shop.wsgi:create_app()"], "shop.wsgi"),
        (["uvicorn", "--host", "0.0.0.0", "--port", "8000", "svc.main:app"], "svc.main"),
        (["gunicorn", "-b", "127.0.0.1:8000"], "gunicorn"),  # the app from a config file: the program
        (["-c"], "python"),
        (["-"], "python"),  # `python -`: a script on stdin, not a program called "-"
        ([], "python"),
    ],
)
def test_program_service_name(argv: list[str], expected: str) -> None:
    assert settings.program_service_name(argv) == expected


# (sys.argv, sys.orig_argv) as CPython 3.11 has them while sitecustomize runs, which is
# when opentelemetry-instrument configures the distro: for -m, sys.argv lacks the module.
@pytest.mark.parametrize(
    ("argv", "orig_argv", "expected"),
    [
        (["-m"], ["/usr/bin/python3", "-m", "pkg.worker"], "pkg.worker"),
        (["-m", "a", "b"], ["python", "-X", "dev", "-m", "pkg.worker", "a", "b"], "pkg.worker"),
        (["-m", "a"], ["python", "-Xdev", "-Im", "pkg.worker", "a"], "pkg.worker"),
        (["-m"], ["python", "-mpkg.worker"], "pkg.worker"),
        (
            ["-m", "-w", "2", "shop.wsgi:app"],
            ["python", "-m", "gunicorn", "-w", "2", "shop.wsgi:app"],
            "shop.wsgi",
        ),
        (["/srv/pkg/worker.py"], ["python", "-m", "pkg.worker"], "pkg.worker"),  # after runpy found it
        (["app.py", "-m", "x"], ["python", "-W", "ignore", "app.py", "-m", "x"], "app"),
        (["-c"], ["python", "-c", "import x", "-m", "y"], "python"),
    ],
)
def test_program_service_name_of_a_module(argv: list[str], orig_argv: list[str], expected: str) -> None:
    assert settings.program_service_name(argv, orig_argv) == expected


def test_distro_resource_attributes_yield_to_user() -> None:
    assert settings.distro_resource_attributes({})["telemetry.distro.name"] == "otelbundle"
    theirs = settings.distro_resource_attributes({"OTEL_RESOURCE_ATTRIBUTES": "telemetry.distro.name=custom"})
    assert "telemetry.distro.name" not in theirs
    assert "telemetry.distro.version" in theirs


@pytest.mark.parametrize(
    ("name", "value", "after"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "foo", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", None),
        ("OTEL_BSP_SCHEDULE_DELAY", "abc", None),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "1e3x", None),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-5", None),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "zz", "5"),  # unset, then our default applies
        ("OTELBUNDLE_LOG_CORRELATION", "maybe", None),
    ],
)
def test_invalid_value_named_once_and_replaced(name: str, value: str, after: str | None) -> None:
    env = {"OTEL_SERVICE_NAME": "svc", name: value}
    messages = apply_defaults(env)
    assert len(messages) == 1
    assert name in messages[0] and repr(value) in messages[0]
    assert env.get(name) == after


def test_valid_values_produce_no_messages() -> None:
    env = {
        "OTEL_SERVICE_NAME": "svc",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2.5",
        "OTEL_PYTHON_LOG_CORRELATION": "true",
    }
    assert apply_defaults(env) == []


def test_config_path_prefers_variable_then_cwd(tmp_path: pytest.TempPathFactory) -> None:
    assert settings.config_path({"OTELBUNDLE_CONFIG": "/x/y.yaml"}) == "/x/y.yaml"
    assert settings.config_path({}, cwd=str(tmp_path)) is None
    (tmp_path / "otelbundle.yaml").write_text("alerting: {}\n")  # type: ignore[operator]
    assert settings.config_path({}, cwd=str(tmp_path)) == str(tmp_path / "otelbundle.yaml")  # type: ignore[operator]


@pytest.mark.parametrize("sampler", ["traceidratio", "parentbased_traceidratio"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1.5", "is not a ratio between 0 and 1"),
        ("-0.1", "is not a ratio between 0 and 1"),
        ("abc", "is not a number"),
        ("nan", "is not a ratio between 0 and 1"),
        ("1", None),
        ("0", None),
        ("0.25", None),
    ],
)
def test_a_ratio_samplers_argument_outside_0_to_1_is_named_once_and_unset(
    sampler: str, value: str, reason: str | None
) -> None:
    """The SDK raises building TraceIdRatioBased(1.5); the ratio becomes its default, 1.0."""
    env = {
        "OTEL_SERVICE_NAME": "svc",
        "OTEL_TRACES_SAMPLER": sampler,
        "OTEL_TRACES_SAMPLER_ARG": value,
    }
    messages = apply_defaults(env)
    if reason is None:
        assert messages == []
        assert env["OTEL_TRACES_SAMPLER_ARG"] == value
        return
    assert messages == [
        f"otelbundle: OTEL_TRACES_SAMPLER_ARG={value!r} {reason}; "
        "using '1.0' instead (the SDK's default ratio)."
    ]
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "1.0"  # unset, the SDK would warn again in its own words


@pytest.mark.parametrize(
    ("sampler", "argument"),
    [
        ("always_on", "1.5"),
        ("always_on", "-1"),
        ("my_sampler", "rate=10,endpoint=http://x"),
        ("my_sampler", "-3"),
    ],
)
def test_other_samplers_keep_their_argument(sampler: str, argument: str) -> None:
    """Only a ratio is bounded; always_on ignores its argument, an entry point's sampler reads its own."""
    env = {"OTEL_SERVICE_NAME": "svc", "OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": argument}
    assert apply_defaults(env) == []
    assert env["OTEL_TRACES_SAMPLER_ARG"] == argument


@pytest.mark.parametrize(("value", "off"), [("true", True), (" TRUE ", True), ("1", False), ("false", False)])
def test_a_disabled_sdk_gets_no_defaults_and_no_messages(value: str, off: bool) -> None:
    """OTEL_SDK_DISABLED is read as the SDK reads it: only ``true`` counts."""
    env = {"OTEL_SDK_DISABLED": value, "OTEL_EXPORTER_OTLP_PROTOCOL": "bogus"}
    messages = apply_defaults(env, ["app.py"])
    if off:
        assert env == {"OTEL_SDK_DISABLED": value, "OTEL_EXPORTER_OTLP_PROTOCOL": "bogus"} and messages == []
    else:
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf" and len(messages) == 2


@pytest.mark.parametrize(
    ("orig_argv", "helper"),
    [
        (["/usr/bin/python3", "-B", "-c", "from multiprocessing.resource_tracker import main;main(6)"], True),
        # spawned workers run the app's code; the forkserver's children inherit its environment
        (["python3", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=6)"], False),
        (["python3", "-c", "from multiprocessing.forkserver import main; main(6, 7, ['__main__'])"], False),
        (["python3", "app.py", "-c", "from multiprocessing.resource_tracker import main"], False),  # app.py's
        (["python3", "-c"], False),
        (["python3", "app.py"], False),
    ],
)
def test_only_multiprocessing_s_resource_tracker_is_a_helper(orig_argv: list[str], helper: bool) -> None:
    assert multiprocessing_helper(orig_argv) is helper

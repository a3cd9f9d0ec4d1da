"""Every environment variable the runtime reads is in the one table, with one default.

The tooling under cli/ (the stack's OTELBUNDLE_CACHE, OTELBUNDLE_DOWNLOAD_URL, …) keeps its
own: it never runs inside an application.
"""

from __future__ import annotations

import ast
from pathlib import Path

from otelbundle.config import env_checks, environment

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "otelbundle"
# Checked by invalid_values only: the SDK reads them, with its own defaults; we never do.
VALIDATED_ONLY = {rule.name for rule in env_checks.NUMBERS}


def names_in_the_code() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if (
                    text.startswith(("OTEL_", "OTELBUNDLE_"))
                    and not text.endswith("_")  # a prefix, e.g. OTEL_EXPORTER_OTLP_{signal}_PROTOCOL
                    and text.replace("_", "").isalnum()
                    and text.isupper()
                ):
                    found.setdefault(text, set()).add(str(path.relative_to(PACKAGE)))
    return found


def test_every_variable_read_is_in_the_table() -> None:
    missing = {
        name: sorted(where)
        for name, where in names_in_the_code().items()
        if name not in environment.TABLE and name not in VALIDATED_ONLY
    }
    assert missing == {}


def test_the_otlp_protocol_has_one_default_the_sdks() -> None:
    """Unset, the SDK's configurator picks gRPC; the endpoint in the drop report and the metric
    export loggers both follow that (they assumed http/protobuf and grpc before)."""
    assert environment.otlp_protocol({}) == "grpc"
    assert environment.otlp_endpoint({}) == "http://localhost:4317"
    assert (
        environment.otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "metrics")
        == "http/protobuf"
    )
    both = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}
    assert environment.otlp_protocol(both, "metrics") == "http/protobuf"
    assert environment.OTEL_DEFAULTS["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"  # what the distro sets


def test_each_signal_has_its_endpoint_as_the_exporters_resolve_it() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:4318/v1/logs",
    }
    assert environment.otlp_endpoint(env, "logs") == "http://logs:4318/v1/logs"
    assert environment.otlp_endpoint(env, "traces") == "http://localhost:4317"
    assert environment.otlp_endpoint(env, "metrics") == "http://localhost:4318"
    assert environment.otlp_endpoint(env) == "http://localhost:4318"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://all:4318"
    assert environment.otlp_endpoint(env, "traces") == "http://all:4318"
    assert environment.otlp_endpoint(env, "logs") == "http://logs:4318/v1/logs"


def test_defaults_the_distro_sets_come_from_the_table() -> None:
    assert {
        v.name: v.distro_sets for v in environment.VARIABLES if v.distro_sets is not None
    } == environment.OTEL_DEFAULTS
    assert len(environment.TABLE) == len(environment.VARIABLES)  # no name twice

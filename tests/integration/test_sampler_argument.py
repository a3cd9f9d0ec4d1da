"""A ratio sampler given 1.5 costs the sampler's argument only, under the wrapper and without it.

``TraceIdRatioBased(1.5)`` raises. It used to turn the whole distro off: the SDK
alone, no scrubbing, no alert rules, unbounded queues, a traceback on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.apps import clean_env, run

PROGRAM = str(Path(__file__).parent / "programs" / "span_pipeline.py")
RULES = "groups:\n  - name: g\n    rules:\n      - {alert: Errors, expr: error_count > 0}\n"

# What the user reads, by how the app was started.
WARNINGS = {
    # The distro's environment check names the value and replaces it.
    "opentelemetry-instrument": "WARNING otelbundle: OTEL_TRACES_SAMPLER_ARG='1.5' is not a ratio between "
    "0 and 1; using '1.0' instead (the SDK's default ratio).",
    # The configurator alone meets the raw value and falls back to the SDK's default sampler.
    "configurator-alone": "WARNING otelbundle: could not build the sampler OTEL_TRACES_SAMPLER='traceidratio' "
    "OTEL_TRACES_SAMPLER_ARG='1.5' (ValueError: ",
}


@pytest.mark.parametrize("started", sorted(WARNINGS))
def test_rules_and_bounded_export_stay_on_with_a_ratio_above_1(tmp_path: Path, started: str) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "otelbundle.yaml").write_text("alerting:\n  rule_files: [rules.yaml]\n")
    env = clean_env(
        {
            "OTELBUNDLE_CONFIG": str(tmp_path / "otelbundle.yaml"),
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_TRACES_SAMPLER": "traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "1.5",
            "OTEL_TRACES_EXPORTER": "otlp",  # without the distro, unset means no exporter
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",  # no span is made: nothing is sent
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    wrapped = started == "opentelemetry-instrument"
    args = ["python", PROGRAM] if wrapped else ["python", PROGRAM, "configure"]
    result = run(args, env, instrument=wrapped, timeout=60)
    assert result.returncode == 0, result.stderr
    pipeline = json.loads(result.stdout.split("PIPELINE ", 1)[1].splitlines()[0])
    assert pipeline == {
        "processors": ["AlertingSpanProcessor", "BoundedSpanProcessor"],
        "sampler": "AlwaysRecordSampler",
        "engine_threads": 1,
    }, result.stderr
    assert WARNINGS[started] in result.stderr, result.stderr
    if wrapped:  # said once, in our words: the SDK does not add its own line about the same value
        assert "Could not convert TRACES_SAMPLER_ARG" not in result.stderr, result.stderr
    assert "plain SDK" not in result.stderr and "Traceback" not in result.stderr, result.stderr

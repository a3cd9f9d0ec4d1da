"""The collector's config and otelbundle.scrub.rules carry the same rules: one list, checked in both places."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from otelbundle.scrub.rules import DB_STATEMENT_KEYS, KEY_IGNORED_PATTERNS, KEY_PATTERNS, PARAM_NAMES, RULES

CONFIG = Path(__file__).resolve().parents[3] / "otel-collector" / "config.yaml"
_OTTL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
# Every place a secret can sit, per signal; each must get every rule.
REQUIRED_TARGETS = {
    "trace_statements": {
        "resource.attributes",
        "scope.attributes",
        "span.name",
        "span.status.message",
        "span.attributes",
        "spanevent.name",
        "spanevent.attributes",
    },
    "log_statements": {
        "resource.attributes",
        "scope.attributes",
        "log.attributes",
        "log.body",
        "log.event_name",
    },
    "metric_statements": {"resource.attributes", "scope.attributes", "datapoint.attributes"},
}


def _config() -> dict[str, Any]:
    return dict(yaml.safe_load(CONFIG.read_text()))


def _unquote(literal: str) -> str:
    """An OTTL string literal as the collector sees it ($$ is the config file's escape for $)."""
    return re.sub(r"\\(.)", r"\1", literal).replace("$$", "$")


def _parse(statement: str) -> tuple[str, str, str]:
    """(target path, regex, replacement) of a replace_pattern / replace_all_patterns statement."""
    target = statement.split("(", 1)[1].split(",", 1)[0].strip()
    literals = [_unquote(m) for m in _OTTL_STRING.findall(statement)]
    if statement.startswith("replace_all_patterns("):
        literals = literals[1:]  # skip the "value" mode
    return target, literals[0], literals[1]


def test_every_target_gets_every_rule_in_order() -> None:
    transform = _config()["processors"]["transform/scrub"]
    expected = [(rule.pattern, rule.replacement) for rule in RULES]
    for signal, required in REQUIRED_TARGETS.items():
        seen: dict[str, list[tuple[str, str]]] = {}
        for group in transform[signal]:
            for statement in group["statements"]:
                target, pattern, replacement = _parse(statement)
                seen.setdefault(target, []).append((pattern, replacement))
        assert set(seen) == required, f"{signal}: targets {sorted(seen)}, expected {sorted(required)}"
        for target, pairs in seen.items():
            per_form = max(1, len(pairs) // len(RULES))  # the body has two forms: string and map
            wanted = [pair for pair in expected for _ in range(per_form)]
            assert pairs == wanted, (
                f"{signal} {target}: the collector's rules differ from otelbundle.scrub.rules.RULES:\n"
                + "\n".join(
                    f"  config: {got}\n  python: {want}"
                    for got, want in zip(pairs, wanted, strict=False)
                    if got != want
                )
                + f"\n  ({len(pairs)} statements, {len(wanted)} expected)"
            )


def test_the_query_parameter_names_are_the_same_list() -> None:
    transform = _config()["processors"]["transform/scrub"]
    patterns = [_parse(s)[1] for g in transform["trace_statements"] for s in g["statements"]]
    query = next(p for p in patterns if p.startswith("(?i)((?:^|[?&;#])(?:"))
    names = query.split("(?:^|[?&;#])(?:", 1)[1].split(")=)", 1)[0].split("|")
    assert sorted(names) == sorted(PARAM_NAMES), (
        f"only in the collector: {sorted(set(names) - set(PARAM_NAMES))}; "
        f"only in Python: {sorted(set(PARAM_NAMES) - set(names))}"
    )


def test_key_masking_and_sql_attributes_match() -> None:
    processors = _config()["processors"]
    assert tuple(processors["redaction"]["blocked_key_patterns"]) == KEY_PATTERNS
    assert tuple(processors["redaction"]["ignored_key_patterns"]) == KEY_IGNORED_PATTERNS
    sql = processors["redaction/sql"]["db_sanitizer"]["sql"]
    assert tuple(sql["attributes"]) == DB_STATEMENT_KEYS
    assert sql["enabled"] is True


def test_scrubbing_runs_in_the_traces_and_logs_pipelines_before_export() -> None:
    pipelines = _config()["service"]["pipelines"]
    traces = pipelines["traces"]["processors"]
    assert traces.index("redaction/sql") < traces.index("transform/scrub"), traces
    # The SQL obfuscator would turn every number in every log line into `?`.
    assert "redaction/sql" not in pipelines["logs"]["processors"]
    for name in ("traces", "logs"):
        processors = pipelines[name]["processors"]
        assert (
            processors.index("redaction") < processors.index("transform/scrub") < processors.index("batch")
        ), f"{name}: {processors}"

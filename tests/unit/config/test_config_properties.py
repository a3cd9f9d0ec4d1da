"""Property: any mutation of a valid config or rule file loads as a valid config or as located
problems (never another exception), and any config that loads survives hostile spans."""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from otelbundle.alerting.notify import build_notifiers
from otelbundle.alerting.section import AlertingConfig, load_alerting_config
from otelbundle.cli.checks import check_config
from otelbundle.config import ConfigError, ConfigProblem
from otelbundle.health.section import read_health_config
from tests.unit.alerting.helpers import Sim

CONFIG: dict[str, Any] = {
    "alerting": {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1s",
        "resend_delay": "1m",
        "external_labels": {"env": "${env:PROP_ENV:-dev}"},
        "generator_url": "http://jaeger/trace/{{ $exemplar.trace_id }}",
        "max_group_keys": 50,
        "notify": {
            "webhook": {"url": "http://127.0.0.1:9/hook", "headers": {"X-Token": "${env:PROP_TOKEN:-t}"}},
            "email": {"smarthost": "mail:25", "from": "a@x", "to": ["b@x"], "starttls": "never"},
        },
    },
    "health": {
        "interval": "15s",
        "timeout": "1s",
        "checks": [
            {"name": "disk", "kind": "system", "resource": "disk", "warning": "85%", "critical": 95},
            {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": 5432},
        ],
    },
    "scrub": {"enabled": True, "extra_patterns": ["secret-[0-9]+"], "allowed_keys": ["user.id"]},
}
RULES: dict[str, Any] = {
    "groups": [
        {
            "name": "g",
            "interval": "1s",
            "rules": [
                {
                    "alert": "Errors",
                    "spans": {"service": "shop", "kind": "server", "where": ['http.route == "/pay"']},
                    "expr": "error_ratio > 5%",
                    "window": "1m",
                    "min_spans": 1,
                    "group_by": ["http.route"],
                    "errors_where": ["http.status_code >= 500"],
                    "labels": {"severity": "critical"},
                    "annotations": {"summary": "{{ $labels.http_route }} {{ $value | humanizePercentage }}"},
                },
                {"alert": "Slow", "spans": {"name_regex": "GET .*"}, "expr": "p99 > 250ms", "for": "0s"},
                {"alert": "Gone", "spans": {"service": "shop"}, "expr": "absent", "window": "30s"},
                {"alert": "Busy", "expr": "count > 2", "keep_firing_for": "10s", "group_by": ["user.id"]},
            ],
        }
    ]
}

hostile_text = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1s",
            "1m30s",
            "!1s",
            "${env:PROP_UNSET}",
            "{{ $labels.",
            "{{ .X }}",
            "nan",
            ".inf",
            "1e999",
            "*",
            "((",
            "a" * 5000,
            "\x00",
            "ü\u202e",
            "${env:PROP_ENV:-}",
            "<<",
            "- x",
            "%",
            "p1000 > 1",
        ]
    ),
    st.text(max_size=30),
)
hostile_value = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, math.nan, math.inf, -0.0, True, False, None]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    tree = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(tree)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = tree
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "unknown"]))
        if action == "replace":
            parent[path[-1]] = draw(hostile_value)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(hostile_value)
    return tree


def _dump(tree: Any) -> str:
    try:
        return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError):  # e.g. a NaN key; write it as text
        return str(tree)


@st.composite
def text_mutation(draw: st.DrawFn, text: str) -> str:
    """Raw edits: a YAML tag, an anchor and alias, a cut, or inserted characters."""
    lines = text.splitlines()
    index = draw(st.integers(0, len(lines) - 1))
    line = lines[index]
    kind = draw(st.sampled_from(["tag", "anchor", "cut", "insert", "merge"]))
    if kind == "tag" and ": " in line:
        key, _, value = line.partition(": ")
        lines[index] = (
            f"{key}: {draw(st.sampled_from(['!1s', '!!python/name:os.system', '!!binary', '!!set', '!!int', '!x']))} {value}"
        )
    elif kind == "anchor" and ": " in line:
        key, _, value = line.partition(": ")
        lines[index] = f"{key}: &a {value}" if value.strip() else line
        lines.insert(min(len(lines), index + 1), f"{key}: *a")
    elif kind == "merge" and line.rstrip().endswith(":"):
        lines.insert(index + 1, " " * (len(line) - len(line.lstrip()) + 2) + "<<: *nowhere")
    elif kind == "cut":
        return "\n".join(lines)[: draw(st.integers(0, len(text)))]
    else:
        position = draw(st.integers(0, len(line)))
        lines[index] = (
            line[:position]
            + draw(st.sampled_from(["[", "{", '"', "'", "\t", ": ", "- ", "&", "*", "!", "%"]))
            + line[position:]
        )
    return "\n".join(lines) + "\n"


def _assert_located(problems: list[ConfigProblem], files: set[str]) -> None:
    assert problems, "a ConfigError without problems"
    for problem in problems:
        assert problem.mark.file in files and problem.mark.line >= 1 and problem.mark.column >= 1, problem
        assert problem.message.strip(), problem


def _load(config_text: str, rules_text: str) -> AlertingConfig | None:
    with tempfile.TemporaryDirectory() as folder:
        config_path, rules_path = Path(folder) / "otelbundle.yaml", Path(folder) / "rules.yaml"
        config_path.write_text(config_text)
        rules_path.write_text(rules_text)
        files = {str(config_path), str(rules_path)}
        env = {"PROP_ENV": "prod"}
        report = check_config(str(config_path), env)  # never raises
        for problem in report.problems:
            assert problem.mark.file in files, problem
        _, problems = read_health_config(str(config_path))
        if problems:
            _assert_located(problems, files)
        try:
            config = load_alerting_config(str(config_path), env)
        except ConfigError as exc:
            _assert_located(exc.problems, files)
            return None
        if config is None:
            return None
        _, problems = build_notifiers(config.notify, env=env)
        if problems:
            _assert_located(problems, files)
        return config


hostile_attribute = st.one_of(
    st.sampled_from(
        ["", "x" * 100_000, "/pay", 10**30, -(2**63), math.nan, math.inf, True, None, 500, "500"]
    ),
    st.lists(st.one_of(st.integers(), st.text(max_size=3)), max_size=3),
    st.floats(allow_nan=True),
    st.text(max_size=20),
)


def _run_spans(config: AlertingConfig, spans: list[dict[str, Any]]) -> None:
    sim = Sim(config)
    for index, attributes in enumerate(spans):
        sim.span(error=index % 2 == 0, duration=0.3, name="GET /x", **attributes)
        sim.at(float(index))
    sim.at(120.0)


span_attributes = st.lists(
    st.dictionaries(
        st.sampled_from(["http.route", "http.status_code", "user.id", "weird key", ""]),
        hostile_attribute,
        max_size=4,
    ),
    min_size=1,
    max_size=6,
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(config=mutated(CONFIG), rules=mutated(RULES), spans=span_attributes)
def test_mutated_values_load_or_give_located_problems(
    config: dict[str, Any], rules: dict[str, Any], spans: list[dict[str, Any]]
) -> None:
    loaded = _load(_dump(config), _dump(rules))
    event("rules loaded" if loaded is not None else "located problems")
    if loaded is not None:
        _run_spans(loaded, spans)


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["config", "rules"]), spans=span_attributes)
def test_broken_syntax_tags_and_anchors_give_located_problems(
    data: st.DataObject, which: str, spans: list[dict[str, Any]]
) -> None:
    config_text, rules_text = _dump(CONFIG), _dump(RULES)
    if which == "config":
        config_text = data.draw(text_mutation(config_text))
    else:
        rules_text = data.draw(text_mutation(rules_text))
    loaded = _load(config_text, rules_text)
    event("rules loaded" if loaded is not None else "located problems")
    if loaded is not None:
        _run_spans(loaded, spans)


def test_the_unmutated_files_are_valid_and_fire() -> None:
    """The property starts from valid files: otherwise every example would be 'problems'."""
    config = _load(_dump(CONFIG), _dump(RULES))
    assert config is not None and [r.name for r in config.rules] == ["Errors", "Slow", "Gone", "Busy"]
    sim = Sim(config)
    for second in range(5):
        sim.span(error=True, **{"http.route": "/pay", "http.status_code": 503})
        sim.at(float(second))
    sim.at(5.0)
    assert {a.labels["alertname"] for a in sim.recorder.sent} >= {"Errors", "Busy"}, sim.recorder.sent


RULE_TEST: dict[str, Any] = {
    "rule_files": ["rules.yaml"],
    "evaluation_interval": "1s",
    "tests": [
        {
            "name": "errors fire",
            "interval": "1s",
            "input_spans": [
                {
                    "spans": {"service": "shop", "kind": "server", "attributes": {"http.route": "/pay"}},
                    "values": "error 100ms x5, ok 1s x2",
                }
            ],
            "alert_rule_test": [
                {
                    "eval_time": "5s",
                    "alertname": "Errors",
                    "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
                }
            ],
        }
    ],
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(test=mutated(RULE_TEST))
def test_mutated_rule_test_files_run_or_give_located_problems(test: dict[str, Any]) -> None:
    from otelbundle.cli.ruletest import run_test_file

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "rules.yaml").write_text(_dump(RULES))
        test_path = Path(folder) / "t.yaml"
        test_path.write_text(_dump(test))
        try:
            failures = run_test_file(str(test_path), {})
        except ConfigError as exc:
            _assert_located(exc.problems, {str(test_path), str(Path(folder) / "rules.yaml")})
            event("located problems")
            return
        event("ran")
        assert all(isinstance(f, str) and f for f in failures)

"""`stack up` on a running stack restarts a component whose command line, config files or
environment changed, and says why; one whose settings are the same stays. Reported: an
edited `--config-root` copy, `OTELCOL_MEMORY_LIMIT_MIB=2048` and another
`VICTORIALOGS_DATA_DIR` were each answered "already running and healthy", exit 0, the
processes still on the old settings."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.settings import changes, settings

ROOT = Path(__file__).resolve().parents[4]
KEY = bytes(32)


def settings_of(root: Path, env: Mapping[str, str], gateways: int = 0) -> dict[str, dict[str, Any]]:
    """Each component's settings as `up` would start it from ``root`` with ``env``."""
    built = comp.components(root, Path("/stack"), env, gateways=gateways)
    return {c.name: settings(c, "/bin/true", env, root, KEY) for c in built}


def changed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {name: found for name in after if (found := changes(before[name], after[name]))}


def test_the_same_settings_change_nothing_though_the_agent_instance_is_new_per_start() -> None:
    env = {"PATH": "/usr/bin"}
    assert changed(settings_of(ROOT, env, gateways=2), settings_of(ROOT, env, gateways=2)) == {}


def test_a_memory_limit_changes_each_collector_and_nothing_else() -> None:
    before = settings_of(ROOT, {}, gateways=1)
    after = settings_of(ROOT, {"OTELCOL_MEMORY_LIMIT_MIB": "2048"}, gateways=1)
    # The gateway's Jaeger queue (components.jaeger_queue_bytes) and the agent's gateway queues
    # (components.gateway_queue_bytes) follow the limit too.
    gateway = ["environment OTELCOL_JAEGER_QUEUE_BYTES, OTELCOL_MEMORY_LIMIT_MIB, OTELCOL_METRICS_QUEUE_SIZE"]
    agent = ["environment OTELCOL_GATEWAY_QUEUE_BYTES, OTELCOL_MEMORY_LIMIT_MIB, OTELCOL_METRICS_QUEUE_SIZE"]
    assert changed(before, after) == {"otelcol-gateway-1": gateway, "otelcol-bundle": agent}


def test_a_data_dir_for_victorialogs_or_jaeger_is_a_change() -> None:
    before = settings_of(ROOT, {})
    after = settings_of(ROOT, {"VICTORIALOGS_DATA_DIR": "/elsewhere/vl", "JAEGER_BADGER_DIR": "/elsewhere/j"})
    assert changed(before, after) == {
        "victorialogs": ["command line"],
        "jaeger": ["environment JAEGER_BADGER_DIR"],
    }


def test_a_variable_a_config_file_reads_is_a_change_and_its_value_is_not_recorded() -> None:
    """The collector reads PROMETHEUS_REMOTE_WRITE_URL (config.yaml): a URL may carry a password."""
    secret = "https://user:hunter2secret@metrics.example/api/v1/write"
    after = settings_of(ROOT, {"PROMETHEUS_REMOTE_WRITE_URL": secret})
    assert changed(settings_of(ROOT, {}), after) == {
        "otelcol-bundle": ["environment PROMETHEUS_REMOTE_WRITE_URL"]
    }
    assert "hunter2secret" not in repr(after)


def test_an_exported_copy_changes_nothing_until_a_file_in_it_is_edited(tmp_path: Path) -> None:
    """`stack config --export DIR`, then `up --config-root DIR`: the same contents under another
    root keep everything running; an edit restarts the component that reads the file."""
    for top in ("otel-collector", "deploy"):
        shutil.copytree(ROOT / top, tmp_path / top)
    before = settings_of(ROOT, {})
    assert changed(before, settings_of(tmp_path, {})) == {}
    prometheus_yml = tmp_path / "deploy" / "prometheus" / "prometheus.yml"
    prometheus_yml.write_text(prometheus_yml.read_text().replace("scrape_interval:", "scrape_interval:  "))
    assert changed(before, settings_of(tmp_path, {})) == {
        "prometheus": ["config file deploy/prometheus/prometheus.yml"]
    }


def test_an_edited_rule_file_restarts_prometheus(tmp_path: Path) -> None:
    """Prometheus reads its rule files at start, like its config."""
    for top in ("otel-collector", "deploy"):
        shutil.copytree(ROOT / top, tmp_path / top)
    before = settings_of(tmp_path, {})
    rules = tmp_path / "deploy" / "prometheus" / "rules" / "red.yaml"
    rules.write_text(rules.read_text() + "\n# edited\n")
    assert changed(before, settings_of(tmp_path, {})) == {
        "prometheus": ["config file deploy/prometheus/rules/red.yaml"]
    }

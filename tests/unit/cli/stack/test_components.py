"""Binary lookup order, config discovery and the runner's refusals, without starting anything."""

from __future__ import annotations

import dataclasses
import os
import socket
import stat
from pathlib import Path

import pytest

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.holders import Holder
from otelbundle.cli.stack.reuse import port_conflict
from otelbundle.cli.stack.runner import Stack, StackError

ROOT = Path(__file__).resolve().parents[4]


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_explicit_variable_then_cache_then_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comp, "CACHE_ROOT", tmp_path / "cache")
    loki = next(c for c in comp.components(ROOT, tmp_path / "data", logs="loki") if c.name == "loki")
    on_path = _exe(tmp_path / "pathdir" / "loki")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert loki.locate({}) == str(on_path)
    cached = _exe(loki.cache_path())
    assert loki.locate({}) == str(cached)
    explicit = _exe(tmp_path / "mine" / "loki")
    assert loki.locate({"OTELBUNDLE_LOKI_BIN": str(explicit)}) == str(explicit)
    assert loki.locate({"OTELBUNDLE_LOKI_BIN": str(tmp_path / "missing")}) is None


def test_every_component_uses_the_repositorys_config_files(tmp_path: Path) -> None:
    for logs in ("victorialogs", "loki"):
        for component in comp.components(ROOT, tmp_path, logs=logs):
            files = [a.split("=", 1)[1] for a in component.args if a.startswith(("--config", "-config.file"))]
            files += [v for k, v in component.env.items() if k == "JAEGER_UI_CONFIG"]
            # VictoriaLogs takes flags only (no config file); everything else reads the repository's files.
            assert files or component.name == "victorialogs", component.name
            assert all(Path(f).is_file() for f in files), (component.name, files)
            assert component.health_url.startswith("http://127.0.0.1:")


def test_the_log_store_decides_the_collector_files_and_jaegers_link(tmp_path: Path) -> None:
    """VictoriaLogs by default; Loki replaces it, adds logs-loki.yaml to the collector and drops the
    trace-to-logs link (Loki has no UI of its own to link to)."""
    default = {c.name: c for c in comp.components(ROOT, tmp_path)}
    loki = {c.name: c for c in comp.components(ROOT, tmp_path, logs="loki", gateways=1)}
    assert "victorialogs" in default and "loki" not in default
    assert "loki" in loki and "victorialogs" not in loki
    assert not any("logs-loki" in a for a in default["otelcol-bundle"].args)
    assert [a.rsplit("/", 1)[1] for a in loki["otelcol-bundle"].args] == [
        "config.yaml",
        "logs-loki.yaml",
        "agent.yaml",
    ]
    assert default["jaeger"].env["JAEGER_UI_CONFIG"].endswith("deploy/jaeger/ui-config.json")
    assert "JAEGER_UI_CONFIG" not in loki["jaeger"].env
    victorialogs = default["victorialogs"]
    assert victorialogs.env_var == "OTELBUNDLE_VICTORIALOGS_BIN"
    assert "-retentionPeriod=7d" in victorialogs.args
    assert "-retention.maxDiskSpaceUsageBytes=10GiB" in victorialogs.args
    assert f"-storageDataPath={tmp_path / 'victorialogs'}" in victorialogs.args
    with pytest.raises(ValueError, match="unknown log store 'elastic'"):
        comp.components(ROOT, tmp_path, logs="elastic")


def test_prometheus_and_alertmanager_link_to_the_address_they_listen_on(tmp_path: Path) -> None:
    # Their default external URL is http://<hostname>:port/, which alert links (Prometheus'
    # generatorURL, Alertmanager's externalURL) would carry to a person's browser.
    for component in comp.components(ROOT, tmp_path / "data"):
        listen = [a.split("=", 1)[1] for a in component.args if a.startswith("--web.listen-address=")]
        if not listen:
            continue
        assert f"--web.external-url=http://{listen[0]}/" in component.args, component.name
    assert {c.name for c in comp.components(ROOT, tmp_path / "data")} >= {"prometheus", "alertmanager"}


def test_config_root_found_from_a_subfolder() -> None:
    assert comp.find_config_root(ROOT / "src" / "otelbundle") == ROOT


def test_up_names_missing_binaries_and_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(comp, "CACHE_ROOT", tmp_path / "empty-cache")
    stack = Stack(data_dir=tmp_path, config_root=ROOT, env={"PATH": str(tmp_path)}, say=lambda _: None)
    with pytest.raises(StackError) as caught:
        stack.up()
    message = str(caught.value)
    assert "victorialogs 1.52.2" in message and "otelcol-bundle 0.159.0" in message
    assert "make stack" in message and "OTELBUNDLE_VICTORIALOGS_BIN" in message


def test_up_refuses_a_port_held_by_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comp, "CACHE_ROOT", tmp_path / "cache")
    stack = Stack(data_dir=tmp_path / "data", config_root=ROOT, env={}, say=lambda _: None)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # a port nothing else uses, held by "another process"
        holder.listen(1)
        port = holder.getsockname()[1]
        component = dataclasses.replace(stack.components[0], ports=(port,))
        stack.components = [component]
        stack.env[component.env_var] = str(_exe(tmp_path / "bin" / component.binary))
        with pytest.raises(StackError, match=f"port\\(s\\) {port}.*used by another process") as caught:
            stack.up(timeout=1)
    # The holder is this test's Python: it is told how to stop that process, not `systemctl stop python3`.
    assert f"Stop it yourself (`kill {os.getpid()}`) and run again." in str(caught.value)


def test_a_port_held_by_the_same_backend_as_a_service_suggests_systemctl(tmp_path: Path) -> None:
    stack = Stack(data_dir=tmp_path / "data", config_root=ROOT, env={}, say=lambda _: None)
    component = next(c for c in stack.components if c.name == "alertmanager")
    debian = Holder(pid=4242, command=("/usr/bin/prometheus-alertmanager", "--config.file=x"), cwd=None)
    assert "(`kill 4242`, or if it is a system service `systemctl stop prometheus-alertmanager`)" in (
        port_conflict(component, [9093], debian)
    )


def test_every_shipped_prometheus_rule_file_has_a_short_name() -> None:
    """`stack config --list` is how a user finds the rules to copy; a new file must be in it."""
    rule_files = {str(p.relative_to(ROOT)) for p in (ROOT / "deploy" / "prometheus" / "rules").glob("*.yaml")}
    assert rule_files <= set(comp.CONFIG_FILES.values()), rule_files - set(comp.CONFIG_FILES.values())


def test_switching_the_log_store_is_remembered_and_stops_the_other_store(tmp_path: Path) -> None:
    """`stack up --logs loki` on a stack that ran VictoriaLogs: the recorded choice carries over to
    a plain `stack up`/`status`/`logs`, and the VictoriaLogs process (its pid file) is a stray to stop."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "topology.json").write_text('{"gateways": 0, "logs": "loki"}\n')
    (run / "victorialogs.pid").write_text("999999999\n")
    recorded = Stack(data_dir=tmp_path, config_root=ROOT, env={}, say=lambda _: None)
    assert (recorded.logs, recorded.recorded_logs) == ("loki", "loki")
    assert "loki" in {c.name for c in recorded.components}
    assert [c.name for c in recorded._stray_gateways()] == ["victorialogs"]
    back = Stack(data_dir=tmp_path, config_root=ROOT, env={}, say=lambda _: None, logs="victorialogs")
    assert (back.logs, back.recorded_logs) == ("victorialogs", "loki")
    assert [c.name for c in back._stray_gateways()] == []  # no loki.pid: nothing of Loki runs
    with pytest.raises(StackError, match="--logs must be one of victorialogs, loki, not 'elastic'"):
        Stack(data_dir=tmp_path, config_root=ROOT, env={}, say=lambda _: None, logs="elastic")

"""Build a backend from the Go module proxy, where its release cannot be had.

The collector with the OpenTelemetry builder on ``otel-collector/builder-config.yaml``;
Jaeger, VictoriaLogs and Alertmanager from the small modules in ``deploy/tools/``.
Each step's output goes to ``build/<name>.log``, whose end is shown when it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.components import Component
from otelbundle.cli.stack.install.cache import record_binary, staged
from otelbundle.cli.stack.install.errors import InstallError
from otelbundle.cli.stack.progress import Progress

# Files (under the config root) that define each Go build: its cache stamp.
BUILD_INPUTS = {
    "otelcol-bundle": ("otel-collector/builder-config.yaml",),
    "jaeger": ("deploy/tools/jaeger/go.mod", "deploy/tools/jaeger/go.sum"),
    "victorialogs": ("deploy/tools/victorialogs/go.mod", "deploy/tools/victorialogs/go.sum"),
    "alertmanager": ("deploy/tools/alertmanager/go.mod", "deploy/tools/alertmanager/go.sum"),
}
TOOL_PACKAGES = {
    "jaeger": "github.com/jaegertracing/jaeger/cmd/jaeger",
    "victorialogs": "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs",
    "alertmanager": "github.com/prometheus/alertmanager/cmd/alertmanager",
}
# The version each binary reports (`jaeger version`, `victoria-logs -version`, Jaeger's
# UI "About" menu), as upstream's release builds set it.
TOOL_LDFLAGS = {
    "jaeger": "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v2.12.0",
    "victorialogs": "-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-v1.52.2",
    "alertmanager": "-X github.com/prometheus/common/version.Version=0.31.1",
}

Step = tuple[str, list[str], Path]  # what it is, the command, the folder it runs in


def go_build(
    component: Component, go: str, stamp: str, *, root: Path, env: Mapping[str, str], progress: Progress
) -> str:
    """Build ``component`` into its cache entry; returns how long it took and where it is."""
    label = f"{component.name} {component.version}"
    progress.line(f"  {label}: building from the Go module proxy (first time on this machine; takes minutes)")
    started = time.monotonic()
    go_env = _go_env(go, env)
    entry = comp.cache_entry(component.binary, component.version)
    out = comp.CACHE_ROOT / "build"
    out.mkdir(parents=True, exist_ok=True)
    with staged(entry) as work:
        target = work / component.binary
        if component.name == "otelcol-bundle":
            built = out / "otelcol" / "out"
            steps = _collector_steps(component, go, root, out / "otelcol" / "builder.yaml", built)
        else:
            steps = _tool_steps(component, go, root, target)
        log = out / f"{component.binary}.log"
        for number, (what, command, cwd) in enumerate(steps, 1):
            _run_step(label, f"{number}/{len(steps)} {what}", command, cwd, go_env, log, progress)
        if component.name == "otelcol-bundle":
            shutil.copy2(built / component.binary, target)
        if not os.access(target, os.X_OK):
            raise InstallError(f"{label}: the build finished without producing {component.binary}; see {log}")
        record_binary(target)
        (work / ".stamp").write_text(f"{stamp}\n")
    return f"built in {time.monotonic() - started:.0f}s ({entry / component.binary})"


def _collector_steps(
    component: Component, go: str, root: Path, builder_yaml: Path, built: Path
) -> list[Step]:
    """The OpenTelemetry builder (installed first unless the right one is there) on our manifest,
    its output_path pointed at ``built``."""
    version = component.version
    builder_yaml.parent.mkdir(parents=True, exist_ok=True)
    config = (root / "otel-collector" / "builder-config.yaml").read_text()
    builder_yaml.write_text(re.sub(r"(?m)^(\s*output_path:).*$", rf"\1 {built}", config))
    (built / component.binary).unlink(missing_ok=True)  # never copy a previous build's
    builder = comp.CACHE_ROOT / "tools" / "builder"
    steps: list[Step] = []
    if not _builder_is(builder, version):  # `go install` asks the proxy even when cached
        install = [go, "install", f"go.opentelemetry.io/collector/cmd/builder@v{version}"]
        steps.append(("go install builder", install, root))
    steps.append(("builder: generate and compile", [str(builder), "--config", str(builder_yaml)], root))
    return steps


def _tool_steps(component: Component, go: str, root: Path, target: Path) -> list[Step]:
    module = root / "deploy" / "tools" / component.name
    package = TOOL_PACKAGES[component.name]
    flags = ["-ldflags", TOOL_LDFLAGS[component.name]] if component.name in TOOL_LDFLAGS else []
    return [
        ("go build", [go, "build", "-mod=readonly", "-trimpath", *flags, "-o", str(target), package], module)
    ]


def _go_env(go: str, env: Mapping[str, str]) -> dict[str, str]:
    proxy = subprocess.run([go, "env", "GOPROXY"], capture_output=True, text=True, env=env).stdout.strip()
    # A missing module must fail fast, not wait on a host that may be unreachable.
    proxy = proxy.removesuffix(",direct").removesuffix("|direct")
    return {
        **env,
        "GOPROXY": proxy or "https://proxy.golang.org",
        "GOFLAGS": "-buildvcs=false",
        "GOBIN": str(comp.CACHE_ROOT / "tools"),
    }


def _run_step(
    label: str,
    step: str,
    command: list[str],
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    progress: Progress,
) -> None:
    progress.line(f"  {label}: step {step}")
    started = time.monotonic()
    with open(log, "ab") as out:
        out.write(f"\n$ (cd {cwd} && {' '.join(command)})\n".encode())
        out.flush()
        process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        try:
            while process.poll() is None:
                elapsed = time.monotonic() - started
                progress.status(
                    f"  {label}: step {step} ({elapsed:.0f}s)",
                    plain=f"  {label}: step {step}: still working ({elapsed:.0f}s)",
                )
                time.sleep(0.5)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait()
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise InstallError(
            f"{label}: `{' '.join(command)}` failed (exit {process.returncode}); nothing was written to the "
            f"cache. The end of {log}:\n{tail}"
        )


def _builder_is(builder: Path, version: str) -> bool:
    try:
        said = subprocess.run([builder, "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return said.strip().endswith(f"v{version}")

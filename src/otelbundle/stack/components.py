"""The backends of the native stack: how to find each binary, start it, and know it is healthy.

Every component listens on loopback (the configs default to 127.0.0.1) on the
ports of ``shared/design/stack.md``. Config files are the same ones compose
and Kubernetes use; only data directories come from the environment.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CACHE_ROOT = Path(os.environ.get("OTELBUNDLE_CACHE", Path.home() / ".cache" / "otelbundle"))
JAEGER_UI_VERSION = "1.76.0"  # the jaeger-ui release that Jaeger v2.13.0 ships with


def jaeger_ui_assets(env: Mapping[str, str]) -> Path | None:
    """The unpacked Jaeger UI (a folder holding index.html), or None.

    ``make stack`` unpacks the release asset into the cache; a folder named by
    OTELBUNDLE_JAEGER_UI_ASSETS (holding ``build/index.html`` or
    ``index.html``) is used as it is.
    """
    candidates = [CACHE_ROOT / "jaeger-ui" / f"v{JAEGER_UI_VERSION}" / "build"]
    explicit = env.get("OTELBUNDLE_JAEGER_UI_ASSETS")
    if explicit and Path(explicit).is_dir():
        candidates = [Path(explicit) / "build", Path(explicit), *candidates]
    return next((c for c in candidates if (c / "index.html").is_file()), None)


@dataclass(frozen=True)
class Component:
    """One backend process."""

    name: str
    version: str
    binary: str  # file name in the cache or on PATH
    path_names: tuple[str, ...]  # names to look for on PATH, in order
    health_url: str
    ports: tuple[int, ...]
    cached: bool  # built into the cache by .ci/build-stack.sh (else: a Debian package)
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def env_var(self) -> str:
        """Variable that names an explicit binary, e.g. OTELBUNDLE_LOKI_BIN."""
        return f"OTELBUNDLE_{self.name.upper().replace('-', '_')}_BIN"

    def cache_path(self) -> Path:
        return CACHE_ROOT / "bin" / f"{self.binary}-{self.version}" / self.binary

    def locate(self, env: Mapping[str, str]) -> str | None:
        """An explicit variable wins, then the version-keyed cache, then PATH."""
        explicit = env.get(self.env_var)
        if explicit:
            return explicit if os.access(explicit, os.X_OK) else None
        if self.cached and os.access(self.cache_path(), os.X_OK):
            return str(self.cache_path())
        for name in self.path_names:
            found = shutil.which(name)
            if found:
                return found
        return None


def components(config_root: Path, data_dir: Path, env: Mapping[str, str] | None = None) -> list[Component]:
    """The stack in start order: storage backends first, the collector (their client) last."""
    deploy = config_root / "deploy"
    ui = jaeger_ui_assets(os.environ if env is None else env)
    return [
        Component(
            name="loki",
            version="3.7.6",
            binary="loki",
            path_names=("loki",),
            health_url="http://127.0.0.1:3100/ready",
            ports=(3100, 9096),
            cached=True,
            args=(f"-config.file={deploy / 'loki' / 'config.yaml'}", "-config.expand-env=true"),
            env={"LOKI_DATA_DIR": str(data_dir / "loki")},
        ),
        Component(
            name="prometheus",
            version="2.42",
            binary="prometheus",
            path_names=("prometheus",),
            health_url="http://127.0.0.1:9090/-/ready",
            ports=(9090,),
            cached=False,
            args=(
                f"--config.file={deploy / 'prometheus' / 'prometheus.yml'}",
                f"--storage.tsdb.path={data_dir / 'prometheus'}",
                "--web.listen-address=127.0.0.1:9090",
                # The collector writes application and span metrics here.
                "--web.enable-remote-write-receiver",
                "--storage.tsdb.retention.time=7d",
            ),
        ),
        Component(
            name="alertmanager",
            version="0.25",
            binary="alertmanager",
            path_names=("prometheus-alertmanager", "alertmanager"),
            health_url="http://127.0.0.1:9093/-/ready",
            ports=(9093,),
            cached=False,
            args=(
                f"--config.file={deploy / 'alertmanager' / 'alertmanager.yml'}",
                f"--storage.path={data_dir / 'alertmanager'}",
                "--web.listen-address=127.0.0.1:9093",
                "--cluster.listen-address=",  # a single instance: no gossip port
            ),
        ),
        Component(
            name="jaeger",
            version="2.13.0",
            binary="jaeger",
            path_names=("jaeger",),
            health_url="http://127.0.0.1:16686/api/services",
            ports=(16686, 14317, 14318),
            cached=True,
            args=(f"--config={deploy / 'jaeger' / 'config.yaml'}",),
            env={"JAEGER_UI_ASSETS_PATH": str(ui)} if ui else {},
        ),
        Component(
            name="otelcol-bundle",
            version="0.159.0",
            binary="otelcol-bundle",
            path_names=("otelcol-bundle",),
            health_url="http://127.0.0.1:13133/",
            ports=(4317, 4318, 13133, 8888),
            cached=True,
            args=(f"--config={config_root / 'otel-collector' / 'config.yaml'}",),
            env={"OTELCOL_STORAGE_DIR": str(data_dir / "otelcol")},
        ),
    ]


def find_config_root(start: Path | None = None) -> Path | None:
    """The folder holding otel-collector/ and deploy/: $OTELBUNDLE_CONFIG_ROOT, the
    current directory or a parent (a checkout), or next to this package (editable install)."""
    explicit = os.environ.get("OTELBUNDLE_CONFIG_ROOT")
    candidates = [Path(explicit)] if explicit else []
    here = (start or Path.cwd()).resolve()
    candidates += [here, *here.parents, *Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / "otel-collector" / "config.yaml").is_file() and (candidate / "deploy").is_dir():
            return candidate
    return None

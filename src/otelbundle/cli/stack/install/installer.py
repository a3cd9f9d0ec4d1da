"""The ``Installer``: which source each component comes from, in the order the package docstring gives."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.components import Component, components
from otelbundle.cli.stack.download import DownloadError, Unreachable
from otelbundle.cli.stack.install.cache import build_stamp, entry_is_valid, free_space, sweep_partials
from otelbundle.cli.stack.install.errors import InstallError
from otelbundle.cli.stack.install.gobuild import BUILD_INPUTS, go_build
from otelbundle.cli.stack.install.jaeger_ui import install_jaeger_ui
from otelbundle.cli.stack.install.releases import (
    DEFAULT_DOWNLOAD_URL,
    RELEASES,
    Release,
    fetch_release,
    platform_tag,
)
from otelbundle.cli.stack.logstore import LOKI
from otelbundle.cli.stack.progress import Progress

SOURCES = ("auto", "build", "download")
# Debian's Prometheus is the tested one; a Loki on PATH is the user's own. Debian's
# Alertmanager has no web UI (its /#/alerts page says so); a build from the v0.31.1
# module or the release embeds it.
ON_PATH_OK = ("prometheus", "loki")


class Installer:
    """Obtains the components of one config root into the cache; ``progress`` reports."""

    def __init__(
        self,
        config_root: Path,
        env: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        source: str = "auto",
    ) -> None:
        if source not in SOURCES:
            raise InstallError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
        self.root = config_root
        self.env = dict(os.environ if env is None else env)
        self.progress = progress or Progress()
        self.source = source
        self.base = self.env.get("OTELBUNDLE_DOWNLOAD_URL", DEFAULT_DOWNLOAD_URL).rstrip("/")
        self.timeout = float(self.env.get("OTELBUNDLE_DOWNLOAD_TIMEOUT", "30"))
        # The first contact with the release host: short, so that a machine which cannot
        # reach it (like a CI box behind a firewall that drops) builds within seconds.
        self.probe_timeout = min(self.timeout, float(self.env.get("OTELBUNDLE_DOWNLOAD_PROBE_TIMEOUT", "5")))
        # Set when the release host did not answer once: the rest of the run builds.
        self.unreachable: str | None = None
        # Every log store, whichever one the stack runs: `stack install loki` must know Loki.
        self.components = components(config_root, Path(tempfile.gettempdir()), self.env)
        self.components += [
            c
            for c in components(config_root, Path(tempfile.gettempdir()), self.env, logs=LOKI)
            if c.name == LOKI
        ]

    def say(self, text: str) -> None:
        self.progress.line(text)

    # ---- the whole run ---------------------------------------------------
    def run(self, names: Sequence[str] = (), ui: bool = True) -> None:
        """``names`` or, by default, the default stack (VictoriaLogs; Loki only when named)."""
        chosen = (
            [self.component(n) for n in names] if names else [c for c in self.components if c.name != LOKI]
        )
        sweep_partials(comp.CACHE_ROOT / "bin")
        for component in chosen:
            self.say(f"  {_label(component)}: {self.obtain(component)}")
        if ui:
            self.jaeger_ui()
        if any(c.name == "otelcol-bundle" for c in chosen):
            self.validate_collector()

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        known = ", ".join(c.name for c in self.components)
        raise InstallError(f"no component named {name!r}; known: {known}")

    def obtain(self, component: Component) -> str:
        """Make one component available; returns where it came from."""
        try:
            return self._obtain(component)
        except DownloadError as exc:
            raise InstallError(f"{_label(component)}: {exc}. Nothing was written to the cache.") from None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise InstallError(
                    f"{_label(component)}: no space left on the device of {comp.CACHE_ROOT} "
                    f"({free_space(comp.CACHE_ROOT)} free); nothing half-written was kept. Free some space or set "
                    "OTELBUNDLE_CACHE to a disk with room, then run `otelbundle stack install` again."
                ) from None
            raise InstallError(f"{_label(component)}: {exc}; nothing half-written was kept.") from None

    def _obtain(self, component: Component) -> str:
        explicit = self.env.get(component.env_var)
        if explicit:
            if not os.access(explicit, os.X_OK):
                raise InstallError(f"{component.env_var}={explicit} is not an executable file")
            return f"{component.env_var}={explicit}"
        inputs = BUILD_INPUTS.get(component.name)
        stamp = build_stamp(self.root, inputs) if inputs else None
        release = RELEASES[component.name]
        for name, version in ((component.binary, component.version), (release.name, release.version)):
            entry = comp.cache_entry(name, version)
            if entry_is_valid(entry, name, stamp if name == component.binary else None):
                return f"cached ({entry / name})"
        if component.name in ON_PATH_OK:
            path = self.env.get("PATH")
            found = next(filter(None, (shutil.which(n, path=path) for n in component.path_names)), None)
            if found:
                return f"on PATH ({found}, e.g. Debian's package)"
        go = shutil.which("go", path=self.env.get("PATH"))
        buildable = bool(inputs and stamp)
        if self.source == "build" and buildable:
            if not go:
                raise InstallError(
                    f"{_label(component)}: no Go toolchain (`go` not on PATH) to build it; install Go, or "
                    "download the release with `otelbundle stack install --source download`"
                )
            assert stamp is not None
            return self.build(component, go, stamp)
        if self.source == "download" or not (buildable and go):
            if component.name == LOKI:
                return self._download_loki(release, component)
            return self.download(release, component)
        # auto, with Go: the release first (a minute), the build only when it cannot be had.
        assert stamp is not None
        if self.unreachable is None:
            try:
                return self.download(release, component)
            except Unreachable as exc:
                self.unreachable = str(exc)
                self.say(
                    f"  {_label(component)}: the release host {self.base} cannot be reached ({exc}); "
                    "building from the Go module proxy instead, for this and every other component"
                )
            except DownloadError as exc:
                self.say(
                    f"  {_label(component)}: no verified release ({exc}); building from the Go module proxy"
                )
        return self.build(component, go, stamp)

    def _download_loki(self, release: Release, component: Component) -> str:
        """Loki is the user's choice and never built here: its release, or a clear way to bring it."""
        try:
            return self.download(release, component)
        except DownloadError as exc:
            raise InstallError(
                f"{_label(component)}: {exc}. This project never builds Loki (its Go module is AGPL). Bring the "
                f"binary yourself (OTELBUNDLE_LOKI_BIN=/path/to/loki, or `loki` on PATH), download "
                f"{self.base}/{release.resolve(release.archive, *platform_tag())} on a machine that can, or keep "
                "the default log store, VictoriaLogs (`otelbundle stack up` without --logs loki)"
            ) from None

    # ---- sources --------------------------------------------------------------
    def download(self, release: Release, component: Component) -> str:
        platform = platform_tag()
        if self.unreachable is not None:
            raise Unreachable(self.unreachable)
        binary = fetch_release(
            release,
            platform,
            self.base,
            timeout=self.timeout,
            probe_timeout=self.probe_timeout,
            progress=self.progress,
            label=_label(component),
        )
        how = "official release" if release.name == component.binary else f"official {release.name} release"
        return f"{how}, sha256 verified ({binary})"

    def build(self, component: Component, go: str, stamp: str) -> str:
        return go_build(component, go, stamp, root=self.root, env=self.env, progress=self.progress)

    def jaeger_ui(self) -> None:
        install_jaeger_ui(self.base, self.env, timeout=self.timeout, progress=self.progress)

    # ---- collector config --------------------------------------------------
    def validate_collector(self) -> None:
        """Each shape the collector runs in: single (config.yaml), logs to Loki
        (+ logs-loki.yaml), scale-out agent (+ agent.yaml) and gateway (gateway.yaml)."""
        collector = self.component("otelcol-bundle")
        binary = collector.locate(self.env)
        if binary is None:
            return
        folder = self.root / "otel-collector"
        for files in (
            ("config.yaml",),
            ("config.yaml", "logs-loki.yaml"),
            ("config.yaml", "agent.yaml"),
            ("gateway.yaml",),
        ):
            configs = [folder / name for name in files]
            if not all(c.is_file() for c in configs):
                continue
            result = subprocess.run(
                [binary, "validate", *(f"--config={c}" for c in configs)],
                capture_output=True,
                text=True,
                env=self.env,
            )
            shown = " + ".join(map(str, configs))
            if result.returncode != 0:
                raise InstallError(
                    f"{binary} rejects {shown}:\n{(result.stdout + result.stderr).strip()[-2000:]}"
                )
            self.say(f"  collector config valid ({shown})")


def _label(component: Component) -> str:
    return f"{component.name} {component.version}"

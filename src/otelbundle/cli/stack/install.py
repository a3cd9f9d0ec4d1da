"""``otelbundle stack install``: obtain every backend into the version-keyed cache.

Per component, the first source that applies:

1. an explicit ``OTELBUNDLE_<NAME>_BIN``;
2. a valid cache entry (``~/.cache/otelbundle/bin/<name>-<version>/<name>``);
3. Prometheus already on PATH (Debian's package);
4. the official release archive for this OS and architecture, checked against the
   release's published sha256 list (the collector: ``otelcol-contrib`` of the same
   version, a superset of our distribution) - a minute where the release host answers;
5. with a Go toolchain, a build from the Go module proxy: the collector with the
   OpenTelemetry builder on ``otel-collector/builder-config.yaml``, Jaeger,
   VictoriaLogs and Alertmanager from the small modules in ``deploy/tools/``.

Downloads come first because they take a minute where builds take many. Where the
release host cannot be reached (no route, no DNS, a firewall that drops), the first
attempt gives up after OTELBUNDLE_DOWNLOAD_PROBE_TIMEOUT seconds (default 5) and
every component of the run goes straight to its build. ``--source build`` and
``--source download`` take one source only. Loki is never built (its module is
AGPL): it is a release download or a binary the user names.

Then the Jaeger UI release asset. Every cache entry is written into a temporary
folder beside it and renamed into place only when complete, so an interrupted
download, a checksum mismatch, a failed build or a full disk never leaves an
entry the next run trusts. A built entry's ``.stamp`` is the hash of the files
that define the build (as .ci/build-stack.sh always wrote it); a downloaded one's
is ``release <sha256>``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.components import JAEGER_UI_VERSION, Component, components
from otelbundle.cli.stack.download import (
    DownloadError,
    Unreachable,
    expected_sha256,
    extract_member,
    fetch,
    fetch_text,
    verify,
)
from otelbundle.cli.stack.logstore import LOKI
from otelbundle.cli.stack.progress import Progress

DEFAULT_DOWNLOAD_URL = "https://github.com"
JAEGER_UI_ASSET = f"jaegertracing/jaeger-ui/releases/download/v{JAEGER_UI_VERSION}/assets.tar.gz"
SOURCES = ("auto", "build", "download")


class InstallError(Exception):
    """A fault with its explanation; the CLI prints it without a traceback."""


@dataclass(frozen=True)
class Release:
    """An official release archive; paths are relative to the download base URL."""

    name: str  # the binary's name, and its cache entry's
    version: str
    archive: str  # {os} and {arch} filled in
    checksums: str  # {os} and {arch} filled in (some projects publish one list per platform)
    member: str  # the binary inside the archive

    def resolve(self, text: str, os_name: str, arch: str) -> str:
        return text.format(os=os_name, arch=arch)


def _gh(repo: str, tag: str, file: str) -> str:
    return f"{repo}/releases/download/{tag}/{file}"


RELEASES = {
    "otelcol-bundle": Release(
        "otelcol-contrib",
        "0.159.0",
        _gh(
            "open-telemetry/opentelemetry-collector-releases",
            "v0.159.0",
            "otelcol-contrib_0.159.0_{os}_{arch}.tar.gz",
        ),
        _gh(
            "open-telemetry/opentelemetry-collector-releases",
            "v0.159.0",
            "opentelemetry-collector-releases_otelcol-contrib_checksums.txt",
        ),
        "otelcol-contrib",
    ),
    # Jaeger v2.12.0 is the release of Go module v1.75.0 (deploy/tools/jaeger/go.mod).
    "jaeger": Release(
        "jaeger",
        "2.12.0",
        _gh("jaegertracing/jaeger", "v2.12.0", "jaeger-2.12.0-{os}-{arch}.tar.gz"),
        _gh("jaegertracing/jaeger", "v2.12.0", "jaeger-2.12.0.sha256sum.txt"),
        "jaeger-2.12.0-{os}-{arch}/jaeger",
    ),
    # Layout of VictoriaLogs' `make release` (its Makefile, release-victoria-logs-goos-goarch):
    # one archive and one checksum list per platform; the binary inside is victoria-logs-prod.
    "victorialogs": Release(
        "victoria-logs",
        "1.52.2",
        _gh("VictoriaMetrics/VictoriaLogs", "v1.52.2", "victoria-logs-{os}-{arch}-v1.52.2.tar.gz"),
        _gh("VictoriaMetrics/VictoriaLogs", "v1.52.2", "victoria-logs-{os}-{arch}-v1.52.2_checksums.txt"),
        "victoria-logs-prod",
    ),
    # Only for `--logs loki`: the project never builds Loki (AGPL), a user may download it.
    "loki": Release(
        "loki",
        "3.7.6",
        _gh("grafana/loki", "v3.7.6", "loki-{os}-{arch}.zip"),
        _gh("grafana/loki", "v3.7.6", "SHA256SUMS"),
        "loki-{os}-{arch}",
    ),
    "prometheus": Release(
        "prometheus",
        "2.42.0",
        _gh("prometheus/prometheus", "v2.42.0", "prometheus-2.42.0.{os}-{arch}.tar.gz"),
        _gh("prometheus/prometheus", "v2.42.0", "sha256sums.txt"),
        "prometheus-2.42.0.{os}-{arch}/prometheus",
    ),
    "alertmanager": Release(
        "alertmanager",
        "0.31.1",
        _gh("prometheus/alertmanager", "v0.31.1", "alertmanager-0.31.1.{os}-{arch}.tar.gz"),
        _gh("prometheus/alertmanager", "v0.31.1", "sha256sums.txt"),
        "alertmanager-0.31.1.{os}-{arch}/alertmanager",
    ),
}

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
# Debian's Prometheus is the tested one; a Loki on PATH is the user's own. Debian's
# Alertmanager has no web UI (its /#/alerts page says so); a build from the v0.31.1
# module or the release embeds it.
ON_PATH_OK = ("prometheus", "loki")


def build_stamp(config_root: Path, inputs: Sequence[str]) -> str:
    """sha256 of the files concatenated, first 16 hex digits (= `cat … | sha256sum | cut -c1-16`)."""
    digest = hashlib.sha256()
    for name in inputs:
        digest.update((config_root / name).read_bytes())
    return digest.hexdigest()[:16]


def entry_is_valid(entry: Path, binary: str, stamp: str | None) -> bool:
    """A complete entry: the executable plus a stamp that matches the build inputs, or
    says it came from a verified release download."""
    try:
        recorded = (entry / ".stamp").read_text().strip()
    except OSError:
        return False
    if not os.access(entry / binary, os.X_OK):
        return False
    return recorded.startswith("release ") or (stamp is not None and recorded == stamp)


@contextlib.contextmanager
def staged(entry: Path) -> Iterator[Path]:
    """A temporary folder beside ``entry`` that replaces it only if the block succeeds."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{entry.name}.partial-", dir=entry.parent))
    work.chmod(0o755)  # mkdtemp's 0700 would hide the entry from other users of a shared cache
    try:
        yield work
        if entry.exists():
            old = entry.with_name(f".{entry.name}.old-{os.getpid()}")
            os.rename(entry, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(work, entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def sweep_partials(parent: Path, older_than: float = 86400.0) -> None:
    """Remove temporary folders that a killed run left (never trusted, only wasted space)."""
    with contextlib.suppress(OSError):
        for path in parent.glob(".*.partial-*"):
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > older_than:
                    shutil.rmtree(path, ignore_errors=True)


def platform_tag() -> tuple[str, str]:
    system = platform.system().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    if system not in ("linux", "darwin") or arch is None:
        raise InstallError(
            f"no release archives are known for {platform.system()}/{platform.machine()}; install Go "
            "(then `stack install` builds them) or point OTELBUNDLE_<NAME>_BIN at binaries you have"
        )
    return system, arch


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
                    f"({_free(comp.CACHE_ROOT)} free); nothing half-written was kept. Free some space or set "
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

    # ---- release downloads -------------------------------------------------
    def download(self, release: Release, component: Component) -> str:
        os_name, arch = platform_tag()
        archive_path = release.resolve(release.archive, os_name, arch)
        url = f"{self.base}/{archive_path}"
        checksums_url = f"{self.base}/{release.resolve(release.checksums, os_name, arch)}"
        file_name = archive_path.rsplit("/", 1)[-1]
        if self.unreachable is not None:
            raise Unreachable(self.unreachable)
        # The checksum list is the first request of each download: small, so a short wait is enough.
        expected = expected_sha256(
            fetch_text(checksums_url, timeout=self.probe_timeout), file_name, checksums_url
        )
        entry = comp.cache_entry(release.name, release.version)
        with staged(entry) as work:
            archive = work / file_name
            got = fetch(url, archive, timeout=self.timeout, progress=self.progress, label=_label(component))
            verify(got, expected, file_name)
            extract_member(archive, release.resolve(release.member, os_name, arch), work / release.name)
            archive.unlink()
            (work / ".stamp").write_text(f"release {got}\n")
        how = "official release" if release.name == component.binary else f"official {release.name} release"
        return f"{how}, sha256 verified ({entry / release.name})"

    # ---- Go builds ---------------------------------------------------------
    def build(self, component: Component, go: str, stamp: str) -> str:
        label = _label(component)
        self.say(f"  {label}: building from the Go module proxy (first time on this machine; takes minutes)")
        started = time.monotonic()
        env = self._go_env(go)
        entry = comp.cache_entry(component.binary, component.version)
        out = comp.CACHE_ROOT / "build"
        out.mkdir(parents=True, exist_ok=True)
        with staged(entry) as work:
            target = work / component.binary
            if component.name == "otelcol-bundle":
                version = component.version
                builder_yaml = out / "otelcol" / "builder.yaml"
                builder_yaml.parent.mkdir(parents=True, exist_ok=True)
                config = (self.root / "otel-collector" / "builder-config.yaml").read_text()
                built = out / "otelcol" / "out"
                builder_yaml.write_text(re.sub(r"(?m)^(\s*output_path:).*$", rf"\1 {built}", config))
                (built / component.binary).unlink(missing_ok=True)  # never copy a previous build's
                builder = comp.CACHE_ROOT / "tools" / "builder"
                steps: list[tuple[str, list[str], Path]] = []
                if not _builder_is(builder, version):  # `go install` asks the proxy even when cached
                    install = [go, "install", f"go.opentelemetry.io/collector/cmd/builder@v{version}"]
                    steps.append(("go install builder", install, self.root))
                steps.append(
                    (
                        "builder: generate and compile",
                        [str(builder), "--config", str(builder_yaml)],
                        self.root,
                    )
                )
            else:
                module = self.root / "deploy" / "tools" / component.name
                package = TOOL_PACKAGES[component.name]
                flags = ["-ldflags", TOOL_LDFLAGS[component.name]] if component.name in TOOL_LDFLAGS else []
                steps = [
                    (
                        "go build",
                        [go, "build", "-mod=readonly", "-trimpath", *flags, "-o", str(target), package],
                        module,
                    )
                ]
            log = out / f"{component.binary}.log"
            for number, (what, command, cwd) in enumerate(steps, 1):
                self._run_step(label, f"{number}/{len(steps)} {what}", command, cwd, env, log)
            if component.name == "otelcol-bundle":
                shutil.copy2(built / component.binary, target)
            if not os.access(target, os.X_OK):
                raise InstallError(
                    f"{label}: the build finished without producing {component.binary}; see {log}"
                )
            (work / ".stamp").write_text(f"{stamp}\n")
        return f"built in {time.monotonic() - started:.0f}s ({entry / component.binary})"

    def _go_env(self, go: str) -> dict[str, str]:
        proxy = subprocess.run(
            [go, "env", "GOPROXY"], capture_output=True, text=True, env=self.env
        ).stdout.strip()
        # A missing module must fail fast, not wait on a host that may be unreachable.
        proxy = proxy.removesuffix(",direct").removesuffix("|direct")
        return {
            **self.env,
            "GOPROXY": proxy or "https://proxy.golang.org",
            "GOFLAGS": "-buildvcs=false",
            "GOBIN": str(comp.CACHE_ROOT / "tools"),
        }

    def _run_step(
        self, label: str, step: str, command: list[str], cwd: Path, env: Mapping[str, str], log: Path
    ) -> None:
        self.say(f"  {label}: step {step}")
        started = time.monotonic()
        with open(log, "ab") as out:
            out.write(f"\n$ (cd {cwd} && {' '.join(command)})\n".encode())
            out.flush()
            process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
            try:
                while process.poll() is None:
                    elapsed = time.monotonic() - started
                    self.progress.status(
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

    # ---- Jaeger UI -----------------------------------------------------------
    def jaeger_ui(self) -> None:
        """The jaeger-ui release asset, unpacked once; a warning (or, with
        OTELBUNDLE_REQUIRE_STACK=1, a failure) when it cannot be had."""
        try:
            self.say(f"  jaeger-ui {JAEGER_UI_VERSION}: {self._jaeger_ui()}")
        except (DownloadError, InstallError, OSError) as exc:
            url = f"{self.base}/{JAEGER_UI_ASSET}"
            lines = [
                f"!! jaeger-ui {JAEGER_UI_VERSION}: {exc}",
                "!! Without it Jaeger serves its API and a placeholder page instead of the UI.",
                f"!! Download {url} on a machine that can, then run:",
                "!!   OTELBUNDLE_JAEGER_UI_ASSETS=/path/to/assets.tar.gz otelbundle stack install",
            ]
            if self.env.get("OTELBUNDLE_REQUIRE_STACK") == "1":
                raise InstallError("\n".join(lines)) from None
            for line in lines:
                self.say(line)

    def _jaeger_ui(self) -> str:
        dest = comp.CACHE_ROOT / "jaeger-ui" / f"v{JAEGER_UI_VERSION}"
        if (dest / "build" / "index.html").is_file():
            return f"cached ({dest / 'build'})"
        given = self.env.get("OTELBUNDLE_JAEGER_UI_ASSETS")
        with staged(dest) as work:
            if given and Path(given).is_dir():
                if not (Path(given) / "build" / "index.html").is_file():
                    raise InstallError(f"OTELBUNDLE_JAEGER_UI_ASSETS={given} has no build/index.html")
                shutil.copytree(Path(given) / "build", work / "build")
            else:
                archive = Path(given) if given else work / "assets.tar.gz"
                if given and not archive.is_file():
                    raise InstallError(f"OTELBUNDLE_JAEGER_UI_ASSETS={given}: no such file")
                if given:
                    got = hashlib.sha256(archive.read_bytes()).hexdigest()
                else:
                    url = f"{self.base}/{JAEGER_UI_ASSET}"
                    got = fetch(url, archive, timeout=self.timeout, progress=self.progress, label="jaeger-ui")
                wanted = self.env.get("OTELBUNDLE_JAEGER_UI_SHA256")
                if wanted and got != wanted.lower():
                    raise InstallError(
                        f"archive {archive}: sha256 {got}, expected {wanted} (OTELBUNDLE_JAEGER_UI_SHA256)"
                    )
                _unpack(archive, work)
                if not given:
                    archive.unlink()
                if not (work / "build" / "index.html").is_file():
                    raise InstallError(f"{archive} holds no build/index.html")
        return f"unpacked into {dest / 'build'} (from {given or 'the jaeger-ui release'})"

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


def _unpack(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tarred:
            if hasattr(tarfile, "data_filter"):
                tarred.extractall(into, filter="data")
            else:  # Python < 3.10.12: refuse paths that leave the folder
                for member in tarred.getmembers():
                    if member.name.startswith("/") or ".." in Path(member.name).parts:
                        raise InstallError(f"{archive}: unsafe path {member.name}")
                tarred.extractall(into)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise
        raise InstallError(f"{archive} is not a readable .tar.gz ({exc})") from None


def _builder_is(builder: Path, version: str) -> bool:
    try:
        said = subprocess.run([builder, "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return said.strip().endswith(f"v{version}")


def _label(component: Component) -> str:
    return f"{component.name} {component.version}"


def _free(path: Path) -> str:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return f"{shutil.disk_usage(probe).free / 1e6:.0f} MB"
    except OSError:
        return "unknown"

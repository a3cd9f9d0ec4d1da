"""Where each backend's official release is, and fetching one into the cache.

The archive for this OS and architecture, checked against the release's published
sha256 list (the collector: ``otelcol-contrib`` of the same version, a superset of
our distribution). File names follow each project's published release layout.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.download import expected_sha256, extract_member, fetch, fetch_text, verify
from otelbundle.cli.stack.install.cache import record_binary, staged
from otelbundle.cli.stack.install.errors import InstallError
from otelbundle.cli.stack.progress import Progress

DEFAULT_DOWNLOAD_URL = "https://github.com"


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


def _github(name: str, version: str, repo: str, archive: str, checksums: str, member: str) -> Release:
    """A release of GitHub repository ``repo`` tagged v{version}; {version} in the file names is filled
    in here, {os} and {arch} at download."""

    def path(file: str) -> str:
        return f"{repo}/releases/download/v{version}/{file}".replace("{version}", version)

    return Release(name, version, path(archive), path(checksums), member.replace("{version}", version))


# Per stack component: the binary (and cache entry) name, version, repository; the archive, its checksum
# list and the binary inside it. Jaeger v2.12.0 is the release of Go module v1.75.0
# (deploy/tools/jaeger/go.mod). VictoriaLogs: the layout of its `make release`
# (release-victoria-logs-goos-goarch): one archive and one checksum list per platform, the binary
# inside named victoria-logs-prod. Loki only for `--logs loki`: never built here (AGPL), a user may
# download it.
RELEASES = {
    "otelcol-bundle": _github("otelcol-contrib", "0.159.0", "open-telemetry/opentelemetry-collector-releases",
        "otelcol-contrib_{version}_{os}_{arch}.tar.gz",
        "opentelemetry-collector-releases_otelcol-contrib_checksums.txt", "otelcol-contrib"),
    "jaeger": _github("jaeger", "2.12.0", "jaegertracing/jaeger",
        "jaeger-{version}-{os}-{arch}.tar.gz", "jaeger-{version}.sha256sum.txt", "jaeger-{version}-{os}-{arch}/jaeger"),
    "victorialogs": _github("victoria-logs", "1.52.2", "VictoriaMetrics/VictoriaLogs",
        "victoria-logs-{os}-{arch}-v{version}.tar.gz", "victoria-logs-{os}-{arch}-v{version}_checksums.txt",
        "victoria-logs-prod"),
    "loki": _github("loki", "3.7.6", "grafana/loki", "loki-{os}-{arch}.zip", "SHA256SUMS", "loki-{os}-{arch}"),
    "prometheus": _github("prometheus", "2.42.0", "prometheus/prometheus",
        "prometheus-{version}.{os}-{arch}.tar.gz", "sha256sums.txt", "prometheus-{version}.{os}-{arch}/prometheus"),
    "alertmanager": _github("alertmanager", "0.31.1", "prometheus/alertmanager",
        "alertmanager-{version}.{os}-{arch}.tar.gz", "sha256sums.txt",
        "alertmanager-{version}.{os}-{arch}/alertmanager"),
}  # fmt: skip


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


def fetch_release(
    release: Release,
    platform_: tuple[str, str],
    base: str,
    *,
    timeout: float,
    probe_timeout: float,
    progress: Progress,
    label: str,
) -> Path:
    """Download, verify and unpack ``release`` into its cache entry; returns the binary's path."""
    os_name, arch = platform_
    archive_path = release.resolve(release.archive, os_name, arch)
    url = f"{base}/{archive_path}"
    checksums_url = f"{base}/{release.resolve(release.checksums, os_name, arch)}"
    file_name = archive_path.rsplit("/", 1)[-1]
    # The checksum list is the first request of each download: small, so a short wait is enough.
    expected = expected_sha256(fetch_text(checksums_url, timeout=probe_timeout), file_name, checksums_url)
    entry = comp.cache_entry(release.name, release.version)
    with staged(entry) as work:
        archive = work / file_name
        got = fetch(url, archive, timeout=timeout, progress=progress, label=label)
        verify(got, expected, file_name)
        extract_member(archive, release.resolve(release.member, os_name, arch), work / release.name)
        archive.unlink()
        record_binary(work / release.name)
        (work / ".stamp").write_text(f"release {got}\n")
    return entry / release.name

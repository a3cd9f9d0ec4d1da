"""The Jaeger UI: a separate jaeger-ui release asset, since a Jaeger built from its Go module has none.

Unpacked once into the cache from the release, or from OTELBUNDLE_JAEGER_UI_ASSETS (an
archive, or a folder holding build/index.html) where the release host cannot be reached.
Without it Jaeger still serves its API, so a missing UI is a warning, not a failure.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.components import JAEGER_UI_VERSION
from otelbundle.cli.stack.download import DownloadError, fetch
from otelbundle.cli.stack.install.cache import staged
from otelbundle.cli.stack.install.errors import InstallError
from otelbundle.cli.stack.progress import Progress

JAEGER_UI_ASSET = f"jaegertracing/jaeger-ui/releases/download/v{JAEGER_UI_VERSION}/assets.tar.gz"


def install_jaeger_ui(base: str, env: Mapping[str, str], *, timeout: float, progress: Progress) -> None:
    """The jaeger-ui release asset, unpacked once; a warning (or, with
    OTELBUNDLE_REQUIRE_STACK=1, a failure) when it cannot be had."""
    try:
        progress.line(f"  jaeger-ui {JAEGER_UI_VERSION}: {_obtain(base, env, timeout, progress)}")
    except (DownloadError, InstallError, OSError) as exc:
        url = f"{base}/{JAEGER_UI_ASSET}"
        lines = [
            f"!! jaeger-ui {JAEGER_UI_VERSION}: {exc}",
            "!! Without it Jaeger serves its API and a placeholder page instead of the UI.",
            f"!! Download {url} on a machine that can, then run:",
            "!!   OTELBUNDLE_JAEGER_UI_ASSETS=/path/to/assets.tar.gz otelbundle stack install",
        ]
        if env.get("OTELBUNDLE_REQUIRE_STACK") == "1":
            raise InstallError("\n".join(lines)) from None
        for line in lines:
            progress.line(line)


def _obtain(base: str, env: Mapping[str, str], timeout: float, progress: Progress) -> str:
    dest = comp.CACHE_ROOT / "jaeger-ui" / f"v{JAEGER_UI_VERSION}"
    if (dest / "build" / "index.html").is_file():
        return f"cached ({dest / 'build'})"
    given = env.get("OTELBUNDLE_JAEGER_UI_ASSETS")
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
                url = f"{base}/{JAEGER_UI_ASSET}"
                got = fetch(url, archive, timeout=timeout, progress=progress, label="jaeger-ui")
            wanted = env.get("OTELBUNDLE_JAEGER_UI_SHA256")
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

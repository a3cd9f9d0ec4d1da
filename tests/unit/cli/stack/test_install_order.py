"""`stack install`'s order of sources: the official release first, a Go build only when the
release cannot be had, and quickly when its host cannot be reached at all.

Real HTTP against a local server laid out like the release host (tests/unit/cli/stack/
test_install.py's ReleaseServer), and a stand-in `go` on PATH that records each call and
writes the binary `go build -o` names, so the build path runs without minutes of compiling.
"""

from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path

import pytest

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.install import Installer, InstallError
from otelbundle.cli.stack.install.gobuild import BUILD_INPUTS, TOOL_PACKAGES
from otelbundle.cli.stack.progress import Progress
from tests.unit.cli.stack.test_install import FAKE_BINARY, ReleaseServer, cache, publish, server

__all__ = ["cache", "server"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[4]

FAKE_GO = """#!/bin/sh
echo "$*" >> "{log}"
if [ "$1" = env ]; then echo "https://proxy.golang.org,direct"; exit 0; fi
if [ "$1" = build ]; then
  while [ $# -gt 0 ]; do
    if [ "$1" = -o ]; then shift; printf '#!/bin/sh\\necho built\\n' > "$1"; chmod 755 "$1"; fi
    shift
  done
  exit 0
fi
exit 2
"""


@pytest.fixture
def go(tmp_path: Path) -> Path:
    """A folder holding the stand-in `go`; its calls go to go.log beside it."""
    folder = tmp_path / "gobin"
    folder.mkdir()
    script = folder / "go"
    script.write_text(FAKE_GO.format(log=folder / "go.log"))
    script.chmod(0o755)
    return folder


def calls(go: Path) -> list[str]:
    log = go / "go.log"
    return log.read_text().splitlines() if log.exists() else []


def auto(url: str, go: Path, output: io.StringIO, **env: str) -> Installer:
    return Installer(
        ROOT,
        env={"OTELBUNDLE_DOWNLOAD_URL": url, "PATH": f"{go}{os.pathsep}{os.defpath}", **env},
        progress=Progress(stream=output, tty=False),
        source="auto",
    )


def test_with_go_installed_the_release_is_taken_first(server: ReleaseServer, cache: Path, go: Path) -> None:
    publish(server, "victorialogs")
    publish(server, "jaeger")
    output = io.StringIO()
    auto(server.url, go, output).run(["victorialogs", "jaeger"], ui=False)
    binary = cache / "bin" / "victoria-logs-1.52.2" / "victoria-logs"
    assert binary.read_bytes() == FAKE_BINARY, "the member victoria-logs-prod becomes victoria-logs"
    assert (cache / "bin" / "jaeger-2.12.0" / "jaeger").read_bytes() == FAKE_BINARY
    assert not any(c.startswith("build") for c in calls(go)), calls(go)
    assert output.getvalue().count("official release, sha256 verified") == 2, output.getvalue()


def test_an_unreachable_release_host_falls_back_to_building_within_seconds(
    server: ReleaseServer, cache: Path, go: Path
) -> None:
    """A host that accepts the connection and never answers (a firewall that drops looks the
    same from here): the first contact waits the probe timeout (default 5 s, though the
    download timeout is 30 s), and no later component of the run asks again."""
    asked: list[str] = []
    silent = server.silent()

    def counting(handler: object) -> None:
        asked.append(str(getattr(handler, "path", "")))
        silent(handler)  # type: ignore[arg-type]

    for path in ("victorialogs", "jaeger"):
        publish(server, path)
    server.routes.update({path: counting for path in server.routes})
    output = io.StringIO()
    started = time.monotonic()
    auto(server.url, go, output, OTELBUNDLE_DOWNLOAD_TIMEOUT="30").run(["victorialogs", "jaeger"], ui=False)
    elapsed = time.monotonic() - started
    said = output.getvalue()
    assert elapsed < 20, f"took {elapsed:.0f}s: a long time-out before building"
    assert len(asked) == 1, f"the release host was asked {len(asked)} times: {asked}"
    assert "cannot be reached (" in said and "no answer within 5s" in said, said
    assert "building from the Go module proxy instead, for this and every other component" in said
    built = [c for c in calls(go) if c.startswith("build")]
    assert (
        len(built) == 2 and TOOL_PACKAGES["victorialogs"] in built[0] and TOOL_PACKAGES["jaeger"] in built[1]
    )
    assert "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v2.12.0" in built[1]
    for entry, name in (("victoria-logs-1.52.2", "victoria-logs"), ("jaeger-2.12.0", "jaeger")):
        stamp = (cache / "bin" / entry / ".stamp").read_text()
        assert not stamp.startswith("release"), stamp
        assert (cache / "bin" / entry / name).is_file()


def test_a_refused_connection_builds_at_once(cache: Path, go: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    output = io.StringIO()
    started = time.monotonic()
    auto(f"http://127.0.0.1:{port}", go, output).run(["victorialogs"], ui=False)
    assert time.monotonic() - started < 10
    assert "Connection refused" in output.getvalue() or "refused" in output.getvalue(), output.getvalue()
    assert (cache / "bin" / "victoria-logs-1.52.2" / "victoria-logs").is_file()


def test_a_release_the_host_lacks_is_built_and_the_reason_said(
    server: ReleaseServer, cache: Path, go: Path
) -> None:
    output = io.StringIO()
    auto(server.url, go, output).run(["victorialogs"], ui=False)  # the server has no files: 404
    said = output.getvalue()
    assert "victorialogs 1.52.2: no verified release (" in said and "HTTP 404" in said, said
    assert any(TOOL_PACKAGES["victorialogs"] in c for c in calls(go))


def test_loki_is_downloaded_or_brought_never_built(server: ReleaseServer, cache: Path, go: Path) -> None:
    assert "loki" not in BUILD_INPUTS and "loki" not in TOOL_PACKAGES
    output = io.StringIO()
    with pytest.raises(InstallError) as caught:
        auto(server.url, go, output).run(["loki"], ui=False)
    message = str(caught.value)
    assert message.startswith("loki 3.7.6: ") and "HTTP 404" in message, message
    assert "never builds Loki" in message and "OTELBUNDLE_LOKI_BIN" in message
    assert not any(c.startswith("build") for c in calls(go))
    publish(server, "loki")
    auto(server.url, go, output).run(["loki"], ui=False)
    assert (cache / "bin" / "loki-3.7.6" / "loki").read_bytes() == FAKE_BINARY


def test_the_default_install_leaves_loki_out(server: ReleaseServer, cache: Path, go: Path) -> None:
    install = auto(server.url, go, io.StringIO())
    assert install.component("loki").name == "loki", "`stack install loki` must know it"
    seen: list[str] = []
    install.obtain = lambda component: seen.append(component.name) or "stub"  # type: ignore[method-assign]
    install.run(ui=False)
    assert seen == ["victorialogs", "prometheus", "alertmanager", "jaeger", "otelcol-bundle"], seen


def test_no_file_builds_or_pins_loki() -> None:
    """Loki's Go module is AGPL and not to be used: no build module, builder entry or pin of it."""
    assert not (ROOT / "deploy" / "tools" / "loki").exists()
    for path in [*(ROOT / "deploy" / "tools").rglob("*"), ROOT / "otel-collector" / "builder-config.yaml"]:
        if path.is_file():
            assert "grafana/loki" not in path.read_text(), path
    assert comp.CACHE_ROOT  # the module imports cleanly without Loki's build inputs

"""`stack install`'s release downloads, for real over HTTP against a local server that
serves archives built here: a good one, a wrong checksum, a truncated body, a stalled
transfer, a server that never answers. After every fault the message says what
happened, and the cache holds no entry (nor temporary folder) that a later run would trust.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.install import Installer, InstallError
from otelbundle.cli.stack.install.cache import build_stamp
from otelbundle.cli.stack.install.releases import RELEASES, platform_tag
from otelbundle.cli.stack.progress import Progress

ROOT = Path(__file__).resolve().parents[4]
FAKE_BINARY = b"#!/bin/sh\necho fake-backend\n" + b"#" * 300_000  # big enough to arrive in pieces

Route = Callable[[BaseHTTPRequestHandler], None]


class ReleaseServer:
    """A stand-in for the GitHub release host on 127.0.0.1: path -> behaviour."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.release = threading.Event()  # lets stalled handlers finish at teardown
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A client that gives up (a stalled download's timeout) can reset its connection
        # between the server's select() and its accept(): a blocking accept() then waits for
        # the next client for ever, and shutdown() at teardown with it (seen under load).
        # Non-blocking, that accept() fails and serve_forever goes on polling.
        self.httpd.socket.setblocking(False)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # behaviours
    @staticmethod
    def body(data: bytes) -> Route:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        return route

    @staticmethod
    def truncated(data: bytes) -> Route:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_WR)

        return route

    def stalled(self, data: bytes) -> Route:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[: len(data) // 3])
            handler.wfile.flush()
            self.release.wait(30)

        return route

    def silent(self) -> Route:
        def route(handler: BaseHTTPRequestHandler) -> None:
            self.release.wait(30)

        return route


@pytest.fixture
def server() -> Iterator[ReleaseServer]:
    running = ReleaseServer()
    yield running
    running.close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setattr(comp, "CACHE_ROOT", root)
    return root


def _tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def publish(
    server: ReleaseServer,
    component: str,
    *,
    archive_route: Callable[[bytes], Route] | None = None,
    checksum: str | None = None,
) -> bytes:
    """Serve a release of ``component`` laid out like upstream's; returns the archive."""
    release = RELEASES[component]
    os_name, arch = platform_tag()
    path = release.resolve(release.archive, os_name, arch)
    member = release.resolve(release.member, os_name, arch)
    data = (_zip if path.endswith(".zip") else _tar_gz)({member: FAKE_BINARY, "LICENSE": b"Apache-2.0\n"})
    digest = checksum or hashlib.sha256(data).hexdigest()
    name = path.rsplit("/", 1)[-1]
    server.routes[f"/{release.resolve(release.checksums, os_name, arch)}"] = server.body(
        f"{'0' * 64}  other.tar.gz\n{digest} *{name}\n".encode()
    )
    server.routes[f"/{path}"] = (archive_route or server.body)(data)
    return data


def installer(server: ReleaseServer, output: io.StringIO | None = None, **env: str) -> Installer:
    return Installer(
        ROOT,
        env={
            "OTELBUNDLE_DOWNLOAD_URL": server.url,
            "OTELBUNDLE_DOWNLOAD_TIMEOUT": "1",
            "PATH": os.defpath,
            **env,
        },
        progress=Progress(stream=output or io.StringIO(), tty=False),
        source="download",
    )


def leftovers(cache: Path) -> list[str]:
    """Everything in the cache's bin/ folder: after a fault it must be empty."""
    folder = cache / "bin"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_verified_release_becomes_a_cache_entry_that_runs(server: ReleaseServer, cache: Path) -> None:
    archive = publish(server, "jaeger")
    output = io.StringIO()
    install = installer(server, output)
    install.run(["jaeger"], ui=False)
    binary = cache / "bin" / "jaeger-2.12.0" / "jaeger"
    ran = subprocess.run([binary], capture_output=True, text=True, check=True)
    assert ran.stdout == "fake-backend\n"
    assert (binary.parent / ".stamp").read_text() == f"release {hashlib.sha256(archive).hexdigest()}\n"
    assert sorted(p.name for p in binary.parent.iterdir()) == [".binary-sha256", ".stamp", "jaeger"], (
        "the archive was not removed"
    )
    assert oct(binary.parent.stat().st_mode & 0o777) == oct(0o755), "other users of the cache must read it"
    assert install.component("jaeger").locate({}) == str(binary)
    assert "sha256 verified" in output.getvalue()
    # A second run trusts the entry and fetches nothing.
    server.routes.clear()
    install.run(["jaeger"], ui=False)
    assert "jaeger 2.12.0: cached" in output.getvalue()


def test_zip_releases_and_the_collector_fallback_to_contrib(server: ReleaseServer, cache: Path) -> None:
    publish(server, "loki")
    publish(server, "otelcol-bundle")
    install = installer(server)
    install.obtain(install.component("loki"))
    assert (cache / "bin" / "loki-3.7.6" / "loki").read_bytes() == FAKE_BINARY
    said = install.obtain(install.component("otelcol-bundle"))
    contrib = cache / "bin" / "otelcol-contrib-0.159.0" / "otelcol-contrib"
    assert "otelcol-contrib" in said and contrib.is_file()
    assert install.component("otelcol-bundle").locate({}) == str(contrib)


def test_a_checksum_mismatch_keeps_nothing(server: ReleaseServer, cache: Path) -> None:
    publish(server, "jaeger", checksum="ab" * 32)
    with pytest.raises(InstallError) as caught:
        installer(server).run(["jaeger"], ui=False)
    message = str(caught.value)
    assert "jaeger 2.12.0" in message and "the release publishes " + "ab" * 32 in message, message
    assert "Nothing was written to the cache" in message
    assert leftovers(cache) == []


def test_a_truncated_download_keeps_nothing(server: ReleaseServer, cache: Path) -> None:
    archive = publish(server, "jaeger", archive_route=ReleaseServer.truncated)
    with pytest.raises(InstallError, match=rf"closed after {len(archive) // 2} of {len(archive)} bytes"):
        installer(server).run(["jaeger"], ui=False)
    assert leftovers(cache) == []


def test_a_stalled_download_times_out_and_keeps_nothing(server: ReleaseServer, cache: Path) -> None:
    publish(server, "jaeger", archive_route=server.stalled)
    with pytest.raises(InstallError, match=r"no data for 1s after .*stalled.*OTELBUNDLE_DOWNLOAD_TIMEOUT"):
        installer(server).run(["jaeger"], ui=False)
    assert leftovers(cache) == []


def test_a_server_that_never_answers_times_out(server: ReleaseServer, cache: Path) -> None:
    release = RELEASES["loki"]
    server.routes[f"/{release.checksums}"] = server.silent()
    with pytest.raises(InstallError, match=r"loki 3\.7\.6: .*(timed out|no answer within 1s)"):
        installer(server).run(["loki"], ui=False)
    assert leftovers(cache) == []


def test_prometheus_on_path_is_used_alertmanager_on_path_is_not(server: ReleaseServer, cache: Path) -> None:
    """Debian's Prometheus is the tested one; Debian's Alertmanager has no web UI, so it is not taken."""
    bin_dir = cache.parent / "debian-bin"
    bin_dir.mkdir()
    for name in ("prometheus", "prometheus-alertmanager"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    install = installer(server, PATH=str(bin_dir))
    assert install.obtain(install.component("prometheus")).startswith(f"on PATH ({bin_dir / 'prometheus'}")
    assert server.routes == {}
    with pytest.raises(InstallError, match="HTTP 404"):  # no Go here: its release, which this server lacks
        install.obtain(install.component("alertmanager"))
    assert leftovers(cache) == []


def test_missing_files_and_unknown_checksums_are_named(server: ReleaseServer, cache: Path) -> None:
    with pytest.raises(InstallError, match=r"HTTP 404"):
        installer(server).run(["loki"], ui=False)
    publish(server, "loki")
    release = RELEASES["loki"]
    server.routes[f"/{release.checksums}"] = server.body(b"0123  something-else.zip\n")
    with pytest.raises(
        InstallError, match=r"lists no checksum for loki-linux-amd64\.zip|lists no checksum for loki-"
    ):
        installer(server).run(["loki"], ui=False)
    assert leftovers(cache) == []


def test_an_interrupted_download_keeps_nothing_and_a_failed_one_keeps_the_old_entry(
    server: ReleaseServer, cache: Path
) -> None:
    publish(server, "jaeger")

    class Interrupting(Progress):
        def status(self, text: str, plain: str | None = None) -> None:
            raise KeyboardInterrupt

    install = installer(server)
    install.progress = Interrupting(stream=io.StringIO(), tty=False)
    with pytest.raises(KeyboardInterrupt):
        install.run(["jaeger"], ui=False)
    assert leftovers(cache) == []
    # An entry whose build inputs changed is replaced only by a complete new one.
    old = cache / "bin" / "jaeger-2.12.0"
    old.mkdir(parents=True)
    (old / "jaeger").write_bytes(b"#!/bin/sh\necho old\n")
    (old / "jaeger").chmod(0o755)
    (old / ".stamp").write_text("0000000000000000\n")
    publish(server, "jaeger", checksum="cd" * 32)
    with pytest.raises(InstallError):
        installer(server).run(["jaeger"], ui=False)
    assert leftovers(cache) == ["jaeger-2.12.0"]
    assert (old / "jaeger").read_bytes() == b"#!/bin/sh\necho old\n"


def test_the_cli_prints_one_message_and_no_traceback(server: ReleaseServer, tmp_path: Path) -> None:
    publish(server, "jaeger", checksum="ef" * 32)
    env = {
        **os.environ,
        "OTELBUNDLE_CACHE": str(tmp_path / "cli-cache"),
        "OTELBUNDLE_DOWNLOAD_URL": server.url,
        "OTELBUNDLE_DOWNLOAD_TIMEOUT": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "stack", "install", "jaeger", "--source", "download"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("otelbundle stack install: jaeger 2.12.0: "), result.stderr
    assert "the release publishes " + "ef" * 32 in result.stderr


def test_the_jaeger_ui_download_is_checked_when_a_sha256_is_given(server: ReleaseServer, cache: Path) -> None:
    from otelbundle.cli.stack.install.jaeger_ui import JAEGER_UI_ASSET

    assets = _tar_gz({"build/index.html": b"<html>jaeger ui</html>"})
    server.routes[f"/{JAEGER_UI_ASSET}"] = server.body(assets)
    output = io.StringIO()
    installer(server, output, OTELBUNDLE_JAEGER_UI_SHA256="00" * 32).jaeger_ui()
    assert "!! jaeger-ui 1.76.0:" in output.getvalue() and "expected " + "00" * 32 in output.getvalue()
    assert not (cache / "jaeger-ui").exists() or not any((cache / "jaeger-ui").iterdir())
    with pytest.raises(InstallError, match="placeholder page"):
        installer(server, OTELBUNDLE_JAEGER_UI_SHA256="00" * 32, OTELBUNDLE_REQUIRE_STACK="1").jaeger_ui()
    good = hashlib.sha256(assets).hexdigest()
    installer(server, OTELBUNDLE_JAEGER_UI_SHA256=good).jaeger_ui()
    index = cache / "jaeger-ui" / "v1.76.0" / "build" / "index.html"
    assert index.read_text() == "<html>jaeger ui</html>"
    assert comp.jaeger_ui_assets({}) == index.parent


def test_build_stamps_match_the_ones_build_stack_sh_wrote(cache: Path) -> None:
    """Caches made by the shell script before `stack install` existed stay valid."""
    files = ["deploy/tools/victorialogs/go.mod", "deploy/tools/victorialogs/go.sum"]
    shell = subprocess.run(
        ["bash", "-c", 'cat "$@" | sha256sum | cut -c1-16', "stamp", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert build_stamp(ROOT, files) == shell


def _modules(section_list: list[dict[str, str]]) -> set[str]:
    return {entry["gomod"].split()[0] for entry in section_list}


def test_otelcol_contrib_has_every_component_of_our_distribution() -> None:
    """Without Go, `stack install` runs otelcol-contrib instead of our build: it must hold
    every component otel-collector/builder-config.yaml lists. Checked against the contrib
    manifest of v0.136.0 (the newest reachable here; the download itself is 0.159.0), so a
    component removed from contrib between those releases would slip past this test, though
    not past `stack install`, which validates otel-collector/config.yaml with the binary."""
    ours = yaml.safe_load((ROOT / "otel-collector" / "builder-config.yaml").read_text())
    lines = (Path(__file__).parent / "data" / "otelcol-contrib-manifest-modules.txt").read_text().splitlines()
    contrib = {line for line in lines if line and not line.startswith(("#", "["))}
    wanted = set().union(
        *(
            _modules(ours[kind])
            for kind in ("receivers", "processors", "exporters", "connectors", "extensions", "providers")
        )
    )
    assert len(wanted) >= 18, wanted
    assert not wanted - contrib, f"not in otelcol-contrib: {sorted(wanted - contrib)}"


def test_release_paths_name_this_platform_and_version() -> None:
    os_name, arch = platform_tag()
    for name, release in RELEASES.items():
        path = release.resolve(release.archive, os_name, arch)
        assert re.search(rf"/v{re.escape(release.version)}/", path), (name, path)
        assert f"{os_name}" in path and arch in path, (name, path)
        assert release.checksums.rsplit("/", 2)[0] == path.rsplit("/", 2)[0], (name, release.checksums)


def test_a_full_disk_keeps_nothing(
    server: ReleaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real full disk: the cache on a 200 KB tmpfs, too small for the binary."""
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(tiny)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        monkeypatch.setattr(comp, "CACHE_ROOT", tiny)
        publish(server, "jaeger")
        with pytest.raises(InstallError) as caught:
            installer(server).run(["jaeger"], ui=False)
        message = str(caught.value)
        assert "jaeger 2.12.0: no space left on the device of " + str(tiny) in message, message
        assert "OTELBUNDLE_CACHE" in message
        assert leftovers(tiny) == []
    finally:
        subprocess.run(["umount", str(tiny)], check=True)


def test_progress_rewrites_one_line_on_a_terminal_and_never_off_one(
    server: ReleaseServer, cache: Path
) -> None:
    archive = publish(server, "jaeger")
    terminal = io.StringIO()
    install = installer(server)
    install.progress = Progress(stream=terminal, tty=True)
    install.run(["jaeger"], ui=False)
    drawn = terminal.getvalue()
    assert re.search(rf"\r  jaeger 2\.12\.0: [0-9.]+ MB of {len(archive) / 1e6:.1f} MB", drawn), repr(drawn)
    assert drawn.endswith("sha256 verified (" + str(cache / "bin" / "jaeger-2.12.0" / "jaeger") + ")\n")

    shutil.rmtree(cache)
    plain = io.StringIO()
    installer(server, plain).run(["jaeger"], ui=False)
    assert "\r" not in plain.getvalue() and "downloaded" in plain.getvalue(), plain.getvalue()


def test_an_offline_copy_of_the_jaeger_ui_is_used_without_any_download(
    server: ReleaseServer, cache: Path, tmp_path: Path
) -> None:
    """What .ci/run does with shared/mirror: a local archive named by the variable, its sha256 checked."""
    assets = _tar_gz({"build/index.html": b"<html>offline ui</html>"})
    archive = tmp_path / "assets.tar.gz"
    archive.write_bytes(assets)
    output = io.StringIO()
    installer(
        server, output, OTELBUNDLE_JAEGER_UI_ASSETS=str(archive), OTELBUNDLE_JAEGER_UI_SHA256="11" * 32
    ).jaeger_ui()
    assert "expected " + "11" * 32 in output.getvalue()
    assert comp.jaeger_ui_assets({}) is None
    good = hashlib.sha256(assets).hexdigest()
    installer(server, OTELBUNDLE_JAEGER_UI_ASSETS=str(archive), OTELBUNDLE_JAEGER_UI_SHA256=good).jaeger_ui()
    index = cache / "jaeger-ui" / "v1.76.0" / "build" / "index.html"
    # The server publishes no UI asset: had it been asked, the install would have failed with 404.
    assert index.read_text() == "<html>offline ui</html>"

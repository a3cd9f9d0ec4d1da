"""A real Alertmanager for tests: the binary `otelbundle stack install` caches (the stack's
version), else Debian's, started on a free loopback port with a config file of the test's."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.apps import free_port

CANDIDATES = [
    *sorted((Path.home() / ".cache/otelbundle/bin").glob("alertmanager-*/alertmanager"), reverse=True),
    Path("/usr/bin/prometheus-alertmanager"),
]


def alertmanager_binary() -> str | None:
    found = next((str(b) for b in CANDIDATES if b.is_file()), None)
    return found or shutil.which("alertmanager")


@contextmanager
def running_alertmanager(binary: str, config: Path, workdir: Path) -> Iterator[str]:
    """Alertmanager running ``config``; yields its URL and stops it after."""
    port = free_port()
    log_path = workdir / "am.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"Alertmanager not ready: {log_path.read_text()[-2000:]}"
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

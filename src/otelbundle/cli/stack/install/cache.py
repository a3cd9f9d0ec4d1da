"""The version-keyed cache under ~/.cache/otelbundle/bin: an entry is written whole or not at all.

Each entry is assembled in a temporary folder beside it and renamed into place only
when complete, so an interrupted download, a checksum mismatch, a failed build or
a full disk never leaves an entry the next run trusts. A built entry's ``.stamp``
is the hash of the files that define the build (as .ci/build-stack.sh always wrote
it); a downloaded one's is ``release <sha256>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


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
    if not os.access(entry / binary, os.X_OK) or binary_damage(entry / binary) is not None:
        return False
    return recorded.startswith("release ") or (stamp is not None and recorded == stamp)


# Beside the binary: its sha256 and size as installed. The stamp says where an entry came
# from; this says the file is still what came (not cut short by a full disk or a copy).
BINARY_SUM = ".binary-sha256"


def record_binary(binary: Path) -> None:
    """Write ``binary``'s sha256 and size beside it (in a staged entry, before the rename)."""
    (binary.parent / BINARY_SUM).write_text(f"{_sha256(binary)} {binary.stat().st_size}\n")


def binary_damage(binary: Path) -> str | None:
    """How ``binary`` differs from what was installed, or None (also when nothing was recorded:
    entries written before the record existed)."""
    try:
        recorded_sum, recorded_size = (binary.parent / BINARY_SUM).read_text().split()
        size = binary.stat().st_size
    except (OSError, ValueError):
        return None
    if str(size) != recorded_size:
        return f"{size} bytes where {recorded_size} were installed"
    got = _sha256(binary)
    return None if got == recorded_sum else f"sha256 {got[:16]}... where {recorded_sum[:16]}... was installed"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def free_space(path: Path) -> str:
    """Free space on the disk ``path`` is (or would be) on, for a "disk full" message."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return f"{shutil.disk_usage(probe).free / 1e6:.0f} MB"
    except OSError:
        return "unknown"

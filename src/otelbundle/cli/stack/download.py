"""Fetch a release archive, check it against its release's published sha256 list, and
take one file out of it. Standard library only; every fault is a DownloadError whose
message says what happened and what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import IO

from otelbundle.cli.stack.progress import Progress, megabytes

_CHUNK = 1 << 16


class DownloadError(Exception):
    pass


class Unreachable(DownloadError):
    """No answer from the host at all (no route, no DNS, refused, timed out): nothing there to fetch."""


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    try:
        response: http.client.HTTPResponse = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except TimeoutError:
        raise Unreachable(
            f"{url}: no answer within {timeout:.0f}s; check the network and run again"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise Unreachable(
                f"{url}: no answer within {timeout:.0f}s; check the network and run again"
            ) from None
        raise Unreachable(f"cannot reach {url}: {reason}") from None
    return response


def _read(response: http.client.HTTPResponse, url: str, timeout: float, got: int) -> bytes:
    try:
        return response.read(_CHUNK)
    except TimeoutError:
        raise DownloadError(
            f"{url}: no data for {timeout:.0f}s after {megabytes(got)}: the server or the network stalled. "
            "Run again (a slow link: raise OTELBUNDLE_DOWNLOAD_TIMEOUT)"
        ) from None
    except (http.client.HTTPException, ConnectionError) as exc:
        raise DownloadError(
            f"{url}: the connection broke after {megabytes(got)} ({exc!r}); run again"
        ) from None


def fetch(url: str, dest: Path, *, timeout: float, progress: Progress, label: str) -> str:
    """Stream ``url`` into ``dest`` and return its sha256. ``timeout`` bounds the wait
    for each piece of data (a stalled transfer fails; a slow one does not)."""
    with _open(url, timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        digest = hashlib.sha256()
        got = 0
        of_total = f" of {megabytes(total)}" if total else ""
        progress.line(f"  {label}: downloading {url}{of_total}")
        with open(dest, "wb") as out:
            while chunk := _read(response, url, timeout, got):
                out.write(chunk)
                digest.update(chunk)
                got += len(chunk)
                progress.status(
                    f"  {label}: {megabytes(got)}{of_total}",
                    plain=f"  {label}: {megabytes(got)}{of_total} so far",
                )
    if total is not None and got != total:
        raise DownloadError(
            f"{url}: the connection closed after {got} of {total} bytes (a truncated download); run again"
        )
    progress.line(f"  {label}: downloaded {megabytes(got)}")
    return digest.hexdigest()


def fetch_text(url: str, *, timeout: float) -> str:
    """A small file (a checksum list), whole."""
    with _open(url, timeout) as response:
        data = b""
        while chunk := _read(response, url, timeout, len(data)):
            data += chunk
            if len(data) > 1 << 20:
                raise DownloadError(f"{url}: more than 1 MB; not a checksum list")
    return data.decode("utf-8", errors="replace")


def expected_sha256(checksums: str, file_name: str, source: str) -> str:
    """The entry for ``file_name`` in a ``sha256sum``/``shasum -b`` list (``<hex>  [*]name``)."""
    for line in checksums.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1].lstrip("*").removeprefix("./") == file_name:
            return parts[0].lower()
    raise DownloadError(f"{source} lists no checksum for {file_name}; the release may have renamed its files")


def verify(sha256: str, expected: str, what: str) -> None:
    if sha256 != expected:
        raise DownloadError(
            f"{what}: sha256 {sha256} but the release publishes {expected}. The file is corrupt or not the "
            "release's; it was deleted. Run again; if it persists, the download source is wrong"
        )


def extract_member(archive: Path, member: str, dest: Path) -> None:
    """Copy one file out of a .tar.gz or .zip to ``dest``, executable."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped, zipped.open(member) as source:
                _copy(source, dest)
        else:
            with tarfile.open(archive, "r:*") as tarred:
                found = tarred.extractfile(member)
                if found is None:
                    raise KeyError(member)
                with found:
                    _copy(found, dest)
    except KeyError:
        raise DownloadError(f"{archive.name} holds no {member}; the release's layout changed") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise DownloadError(f"{archive.name} is not a readable archive ({exc}); run again") from None
    dest.chmod(0o755)


def _copy(source: IO[bytes], dest: Path) -> None:
    with open(dest, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)

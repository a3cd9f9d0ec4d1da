"""A batch the collector refused for its size goes again in parts, so an oversized item is lost alone.

One span with a 30 MB attribute (a response body, a query with a huge ``IN``
list) made its whole batch too big for the collector (20 MiB a request by
default): the collector answered 400 and the exporter dropped all 512 items,
the ordinary ones beside it too. The OTLP exporters say only "failed"; the
status and the size of what was refused come from our own ``requests`` session
(:mod:`otelbundle.sdk.export.http_session`), which notes them on the exporting
thread (:func:`note_answer`). The export wrapper then asks :func:`refused_bytes`
and sends the batch again in :func:`parts`, each counted on its own: an item
still refused alone is dropped and named with its size.

Only a refusal that can be about size starts this: a 413, or a 400 to a body of
at least :data:`SPLIT_400_FROM` bytes (the collector answers a body over its
limit with 400; a small batch refused with 400 is malformed, and sending it in
parts would only multiply the requests). A compressed body
(``OTEL_EXPORTER_OTLP_COMPRESSION``) is measured as the collector measures it,
decompressed: 25 MB of repeated text gzips to 25 kB, which the collector
refuses once it has inflated it. Nothing here runs while exports succeed
but :func:`forget` (one attribute set per export). Over OTLP/gRPC the exporter
keeps its own channel and this does not apply.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

Item = TypeVar("Item")

# A 400 to a body this big is taken for "over the collector's size limit" (normal batches are
# tens to hundreds of KiB; a proxy's or collector's limit is rarely below 1 MiB).
SPLIT_400_FROM = 1024 * 1024
# Inflated in steps of this many bytes, counted and let go: only the size is wanted.
_INFLATE_STEP = 4 * 1024 * 1024
# zlib's window bits for the OTLP exporters' encodings: 16 + 15 reads a gzip member, 15 zlib.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

_answers = threading.local()


def forget() -> None:
    """Before an export: no refusal noted on this thread yet."""
    _answers.refused = None


def note_answer(status: int, body: object, headers: Mapping[str, str] | None = None) -> None:
    """Called by our session after each request: notes a refusal that can be about size."""
    if status != 413 and status != 400:
        return
    size = len(body) if isinstance(body, (bytes, bytearray, str)) else 0
    encoding = _content_encoding(headers)
    if encoding in _WBITS and isinstance(body, (bytes, bytearray)):
        size = max(size, inflated_size(bytes(body), _WBITS[encoding]))
    if status == 413 or size >= SPLIT_400_FROM:
        _answers.refused = (status, size)


def _content_encoding(headers: Mapping[str, str] | None) -> str:
    for name, value in (headers or {}).items():
        if isinstance(name, str) and name.lower() == "content-encoding" and isinstance(value, str):
            return value.strip().lower()
    return ""


def inflated_size(body: bytes, wbits: int) -> int:
    """How many bytes ``body`` inflates to (0 when it is not what its encoding says); only on the
    failure path, in bounded steps, so a 70 MB request body never sits in memory twice."""
    inflater = zlib.decompressobj(wbits)
    size = 0
    try:
        chunk = inflater.decompress(body, _INFLATE_STEP)
        while chunk:
            size += len(chunk)
            chunk = inflater.decompress(inflater.unconsumed_tail, _INFLATE_STEP)
    except zlib.error:
        return 0
    return size


def refused_bytes() -> tuple[int, int] | None:
    """(status, bytes of the refused body) when the last export on this thread was refused for
    its size, else None."""
    refused: tuple[int, int] | None = getattr(_answers, "refused", None)
    return refused


def _span_size(span: Any) -> int:
    return int(encode_spans([span]).ByteSize())


def _log_size(record: Any) -> int:
    return int(encode_logs([record]).ByteSize())


try:  # the OTLP exporters' own encoders, imported with them (never on an export thread)
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
except ImportError:  # pragma: no cover - the OTLP exporter packages are dependencies
    SIZERS: dict[str, Callable[[Any], int]] = {}
else:
    SIZERS = {"spans": _span_size, "logs": _log_size}


def parts(items: Sequence[Item], refused: int, size_of: Callable[[Item], int] | None) -> list[list[Item]]:
    """``items`` in order, in groups of at most half the ``refused`` bytes each (an item bigger
    than that alone in its group); halves by count when sizes cannot be measured."""
    if size_of is None or refused <= 0:
        middle = len(items) // 2
        return [list(items[:middle]), list(items[middle:])]
    limit = refused // 2
    groups: list[list[Item]] = []
    group: list[Item] = []
    total = 0
    for item in items:
        try:
            size = size_of(item)
        except Exception:  # an item the encoder cannot take: it fails alone
            size = limit + 1
        if group and total + size > limit:
            groups.append(group)
            group, total = [], 0
        group.append(item)
        total += size
    groups.append(group)
    if len(groups) == 1:  # the sizes say it fits: they are wrong about this collector, halve it
        return parts(items, 0, None)
    return groups


def shown_size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size} bytes"

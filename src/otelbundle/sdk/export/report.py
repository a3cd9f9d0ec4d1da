"""Saying once what could not be exported, instead of once per batch.

With the collector down the SDK logs a warning or a traceback for every failed
batch and a "Queue full" line for every dropped span. That floods the app's
own logs exactly when someone is reading them. The counts come from the objects
the distro installs (:mod:`otelbundle.sdk.export.bounded`), never from the text of
the SDK's messages; this module turns them into a report:

* records the SDK logs *on the thread of a counted export, while it runs* are
  folded into that export's count (:class:`ExportLogFold`): which records, is
  decided by where they were logged, not by what they say. The first one's
  message becomes the reason in the report, so nothing is lost unseen;
* metric exporters cannot be wrapped through a configurator argument: records
  at WARNING and above from the metric export path's loggers (the modules of
  the SDK's periodic reader and of the configured metric exporter classes) are
  counted as failed metric exports, the first one quoted in the report;
* our metric reader hands each export's result to :func:`count_export`
  (:func:`otelbundle.sdk.metric_reader.count_exports_with`): records logged
  during it are folded like a span export's, so the loggers above count only
  what happens outside it (the SDK's own periodic reader, a skipped export);
* :class:`DropReport` prints one warning on the first loss (saying what, where,
  and why), one line when export recovers, and a summary at exit. The summary
  also counts what was still queued or being sent when the exit flush ended
  (:meth:`DropReport.not_flushed`): that is lost with the process too.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from otelbundle.config import environment
from otelbundle.config.report import diagnostics_logger
from otelbundle.config.urls import redacted_url
from otelbundle.sdk.metric_reader import ForkSafeMetricReader

QUEUE_FULL = "the in-process queue is full (export slower than production)"


def _warn(message: str) -> None:
    diagnostics_logger().warning("%s", message)


@dataclass
class SignalCounts:
    exported: int = 0
    dropped: int = 0
    failed_exports: int = 0
    sending: int = 0  # items handed to the exporter, not yet back (retried, or waiting on the network)
    sending_exports: int = 0


@dataclass
class DropReport:
    """Thread-safe drop counters for spans, logs and metrics, reported sparingly."""

    endpoint: str = ""
    # Per signal ("spans", "logs", "metrics") where it differs from ``endpoint``: the
    # OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT variables send each signal somewhere else, and a
    # warning naming the wrong collector sends the reader to look at the wrong one.
    endpoints: dict[str, str] = field(default_factory=dict)
    counts: dict[str, SignalCounts] = field(
        default_factory=lambda: {s: SignalCounts() for s in ("spans", "logs", "metrics")}
    )
    suppressed_log_lines: int = 0
    _failing: set[str] = field(default_factory=set)
    _refused: dict[str, int] = field(default_factory=dict)  # refused at the queue, not yet said
    _refusal_said: set[str] = field(default_factory=set)
    _partially_rejected: set[str] = field(default_factory=set)
    _warned: bool = False
    _who: str = ""  # in a forked process, which one (after_fork_in_child)
    _holders: list[tuple[str, Callable[[], int]]] = field(default_factory=list)
    # Reentrant: the SIGTERM handler reads the report on the thread it interrupted, which may
    # be inside refused() (a full queue while the collector is down) holding this lock.
    _lock: threading.RLock = field(default_factory=threading.RLock)
    emit: Callable[[str], None] = field(default=_warn)

    def __post_init__(self) -> None:
        # Said in every warning and the exit summary: a user:token@ or a signed query must not be,
        # nor in a reason quoted from the exporter (requests names the URL's path and query).
        urls = [self.endpoint, *self.endpoints.values()]
        self._hidden = sorted({c for url in urls for c in endpoint_credentials(url)}, key=len, reverse=True)
        self.endpoint = shown_endpoint(self.endpoint)
        self.endpoints = {s: shown_endpoint(url) for s, url in self.endpoints.items()}

    def where(self, signal: str) -> str:
        """The endpoint ``signal`` is exported to, fit for stderr."""
        return self.endpoints.get(signal, self.endpoint)

    def _without_credentials(self, text: str) -> str:
        for secret in self._hidden:
            text = text.replace(secret, "***")
        return text

    def holding(self, signal: str, pending: Callable[[], int]) -> None:
        """A queue of ``signal`` items not yet handed to an exporter; ``pending`` says how many.

        Read once, after the exit flush: whatever is still there then is lost with the process.
        """
        with self._lock:
            self._holders.append((signal, pending))

    @contextmanager
    def sending(self, signal: str, items: int) -> Iterator[None]:
        """Around one export: its items are held by the exporter (retrying, or waiting) meanwhile."""
        with self._lock:
            counts = self.counts[signal]
            counts.sending += items
            counts.sending_exports += 1
        try:
            yield
        finally:
            with self._lock:
                counts.sending = max(0, counts.sending - items)
                counts.sending_exports = max(0, counts.sending_exports - 1)

    def not_flushed(self) -> dict[str, int]:
        """Per signal, what is queued or being sent right now (metrics: exports, else items).

        Read after the exit flush, so it is what the flush could not deliver in time.
        """
        with self._lock:
            holders = list(self._holders)
            held = {
                signal: c.sending_exports if signal == "metrics" else c.sending
                for signal, c in self.counts.items()
            }
        for signal, pending in holders:
            try:
                held[signal] = held.get(signal, 0) + max(0, int(pending()))
            except Exception:  # a part that cannot say leaves its count out, never the summary
                continue
        return {signal: n for signal, n in held.items() if n}

    def refused(self, signal: str) -> None:
        """One item refused at a full in-process queue. Called on the app's thread (span
        end, log emit), so it only counts: the export thread says it (:meth:`_say_refusals`)."""
        with self._lock:
            self.counts[signal].dropped += 1
            self._refused[signal] = self._refused.get(signal, 0) + 1

    def _say_refusals(self) -> None:
        """Once per signal, from an export thread: the queue overflowed (a summary follows at exit)."""
        with self._lock:
            news = {s: n for s, n in self._refused.items() if s not in self._refusal_said}
            self._refusal_said.update(news)
            self._refused.clear()
        for signal, refused in news.items():
            self.emit(
                f"otelbundle: {refused} {signal} refused: {QUEUE_FULL}. Further refusals are counted, "
                "not logged; a summary is printed at exit."
            )

    def exported(self, signal: str, items: int) -> None:
        self._say_refusals()
        with self._lock:
            self.counts[signal].exported += items
            recovered = signal in self._failing
            self._failing.discard(signal)
            counts = self.counts[signal]
            # Metrics are counted in exports (a failed one loses no queued items).
            lost = (
                f"{counts.failed_exports} failed exports"
                if signal == "metrics"
                else f"{counts.dropped} {signal} dropped"
            )
        if recovered:
            self.emit(f"otelbundle: {signal} export to {self.where(signal)} recovered ({lost} so far).")

    def dropped(self, signal: str, items: int, reason: str) -> None:
        """Items of a failed export (metrics: a failed export, items 0); called on export threads."""
        self._say_refusals()
        with self._lock:
            counts = self.counts[signal]
            counts.dropped += items
            counts.failed_exports += 1
            first_for_signal = signal not in self._failing
            self._failing.add(signal)
            first_ever = not self._warned
            self._warned = True
        if first_for_signal:
            more = (
                " Further export errors are counted, not logged; a summary is printed at exit."
                if first_ever
                else ""
            )
            what = signal if signal == "metrics" else f"{items} {signal}"  # metrics: exports, not items
            reason = self._without_credentials(reason)
            self.emit(f"otelbundle: could not export {what} to {self.where(signal)}: {reason}.{more}")

    def rejected_by_collector(self, signal: str, items: int, message: str) -> None:
        """Items of an export the collector answered 200 to and rejected (OTLP partial success):
        the export counts as delivered, these are dropped; said once per signal, like a failure."""
        with self._lock:
            self.counts[signal].dropped += items
            first = signal not in self._partially_rejected
            self._partially_rejected.add(signal)
        if first:
            why = self._without_credentials(message) if message else "no reason given"
            self.emit(
                f"otelbundle: the collector at {self.where(signal)} rejected {items} {signal} of an export "
                f"it accepted: {why}. Further rejections are counted, not logged; a summary is "
                "printed at exit."
            )

    def suppressed(self) -> None:
        with self._lock:
            self.suppressed_log_lines += 1

    def after_fork_in_child(self) -> None:
        """The child's own report: a fresh lock (a parent thread may have held this one at fork),
        zero counts and nothing said yet. What the parent lost is the parent's to report; a
        child counting it too would print it again in every worker's exit summary."""
        self._lock = threading.RLock()
        self.counts = {signal: SignalCounts() for signal in self.counts}
        self.suppressed_log_lines = 0
        self._failing = set()
        self._refused = {}
        self._refusal_said = set()
        self._partially_rejected = set()
        self._warned = False
        # Each gunicorn worker, pool process... prints its own summary at its exit: the pid
        # tells them apart from each other and from the parent's.
        self._who = f" (forked process {os.getpid()})"

    def summary(self, not_flushed: Mapping[str, int] | None = None) -> str | None:
        """One line with every non-zero drop count, or None when nothing was lost.

        ``not_flushed`` (:meth:`not_flushed` after the exit flush) is said per signal
        after its drops: ``spans=3 dropped (1 failed exports) and 5 not flushed``.
        """
        held = not_flushed or {}
        with self._lock:
            lost = [
                signal
                for signal, c in self.counts.items()
                if c.dropped or c.failed_exports or held.get(signal, 0)
            ]
            parts = [_part(signal, self.counts[signal], held.get(signal, 0)) for signal in lost]
        if not parts:
            return None
        places = {self.where(signal) for signal in lost}
        who = self._who
        if len(places) == 1:
            return f"otelbundle: telemetry not delivered to {places.pop()}{who}: " + ", ".join(parts) + "."
        # Signals sent to different collectors: each part says where it went.
        parts = [f"{part} to {self.where(signal)}" for signal, part in zip(lost, parts, strict=True)]
        return f"otelbundle: telemetry not delivered{who}: " + ", ".join(parts) + "."


def shown_endpoint(url: str) -> str:
    """``url`` fit for stderr: user-info and query (either may hold a token) replaced by ``***``."""
    return redacted_url(url, "***")


def endpoint_credentials(url: str) -> list[str]:
    """The parts of ``url`` that may hold a credential (its user-info and query), longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url] if url else []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return sorted({p for p in (userinfo, parts.query) if p}, key=len, reverse=True)


def _part(signal: str, counts: SignalCounts, held: int) -> str:
    """One signal's entry in the summary: metrics in exports (their data is not queued), else items."""
    if signal == "metrics":
        lost = [f"{counts.failed_exports} failed exports"] if counts.failed_exports else []
        lost += [f"{held} export{'s' if held != 1 else ''} not flushed"] if held else []
        return "metrics: " + " and ".join(lost)
    if not (counts.dropped or counts.failed_exports):
        return f"{signal}={held} not flushed"
    text = f"{signal}={counts.dropped} dropped ({counts.failed_exports} failed exports)"
    return text + (f" and {held} not flushed" if held else "")


class ExportLogFold(logging.Filter):
    """Folds the SDK's records about an export into that export's count.

    A record is folded when it is logged on a thread that is inside a counted
    export (:meth:`during`), or when it comes from a logger named in
    ``metric_loggers`` at WARNING or above. Everything else passes untouched.
    """

    def __init__(self, report: DropReport) -> None:
        super().__init__("otelbundle-export")
        self._report = report
        self._local = threading.local()
        self._loggers: set[str] = set()
        self._metric_loggers: set[str] = set()

    def attach(self, logger_names: Iterable[str], *, metric_export: bool = False) -> None:
        for name in logger_names:
            if metric_export:
                self._metric_loggers.add(name)
            if name not in self._loggers:
                self._loggers.add(name)
                logging.getLogger(name).addFilter(self)

    def detach(self) -> None:
        for name in self._loggers:
            logging.getLogger(name).removeFilter(self)
        self._loggers.clear()
        self._metric_loggers.clear()

    def during(self) -> ExportCapture:
        """Context manager marking this thread as inside a counted export."""
        return ExportCapture(self._local)

    def filter(self, record: logging.LogRecord) -> bool:
        capture: ExportCapture | None = getattr(self._local, "capture", None)
        if capture is not None:
            if record.levelno >= logging.ERROR:
                capture.verdict = _message(record)
            if capture.first is None and record.levelno >= logging.WARNING:
                capture.first = _message(record)
            if record.levelno >= logging.WARNING:
                self._report.suppressed()
            return False
        if record.levelno >= logging.WARNING and record.name in self._metric_loggers:
            self._report.dropped("metrics", 0, _message(record))
            return False
        return True


class ExportCapture:
    """What was logged during one export: the first warning, and the last error (the exporter's
    verdict; the OTLP exporters log each retry as a warning and giving up as an error)."""

    def __init__(self, local: threading.local) -> None:
        self._local = local
        self.first: str | None = None
        self.verdict: str | None = None

    @property
    def reason(self) -> str | None:
        """The verdict, with the first warning when that came earlier (it says why: a retried
        "Transient error ... retrying in 1s" alone read as if the items were still on their way)."""
        if self.verdict is None or self.first is None or self.first == self.verdict:
            return self.verdict or self.first
        return f"{self.verdict} (first: {self.first})"

    def __enter__(self) -> ExportCapture:
        self._local.capture = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.capture = None


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:
        text = str(record.msg)
    return text.splitlines()[0].rstrip(".") if text else record.name


def sdk_logger_names(prefixes: Sequence[str] = ("opentelemetry.exporter", "opentelemetry.sdk")) -> list[str]:
    """Loggers that exist now under the SDK's and exporters' packages (filters apply per logger)."""
    return [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if any(name == p or name.startswith(p + ".") for p in prefixes)
    ]


def metric_export_logger_names(env: Mapping[str, str]) -> list[str]:
    """Loggers of the metric export path: the SDK's periodic reader and the configured exporters.

    Named by the modules that define those classes (the configured
    ``OTEL_METRICS_EXPORTER`` entry points, ``otlp`` resolved by protocol as the
    SDK does), so a moved or renamed module is followed.
    """
    protocol = environment.otlp_protocol(env, "metrics")
    names = {PeriodicExportingMetricReader.__module__, ForkSafeMetricReader.__module__}
    wanted = {n.strip() for n in environment.get(env, "OTEL_METRICS_EXPORTER").split(",") if n.strip()}
    if "otlp" in wanted:
        wanted.discard("otlp")
        wanted.add("otlp_proto_http" if protocol == "http/protobuf" else "otlp_proto_grpc")
    for point in entry_points(group="opentelemetry_metrics_exporter"):
        if point.name not in wanted:
            continue
        try:
            exporter_class = point.load()
        except Exception:
            continue
        names.update(
            k.__module__ for k in exporter_class.__mro__ if k.__module__.startswith("opentelemetry.")
        )
    return sorted(names)

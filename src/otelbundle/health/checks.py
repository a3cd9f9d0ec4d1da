"""The check kinds. Each is a small object whose ``run`` returns a :class:`Verdict`.

``run`` may block (network, database, user code): the scheduler always calls it
on a worker thread and abandons it at its timeout, so checks do not need their
own watchdogs — but they pass the timeout to sockets and drivers where they can,
so that an abandoned worker thread ends soon after. A check may also have an
``abandon()`` the scheduler calls at the timeout (HTTP shuts its sockets down:
a per-read timeout does not bound a server that drips bytes).
"""

from __future__ import annotations

import importlib
import inspect
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from otelbundle.config.report import diagnostics_logger
from otelbundle.health.model import Status, Thresholds, Verdict


@dataclass
class CheckSpec:
    """Scheduling options common to every kind."""

    name: str
    kind: str
    interval_s: float
    timeout_s: float
    readiness: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)


class Check(Protocol):
    """``run`` on a worker thread; optionally ``prepare()`` on the thread that starts the
    scheduler (imports: see :meth:`SqlCheck.prepare`) and ``abandon()`` at the timeout."""

    spec: CheckSpec

    def run(self, previous: Status | None) -> Verdict: ...


# ---- system -------------------------------------------------------------


class SystemReader(Protocol):
    """Where system checks get their percentages; tests inject a fake."""

    def cpu_percent(self) -> float: ...
    def memory_percent(self) -> float: ...
    def disk_percent(self, path: str) -> float: ...


class PsutilReader:
    """The real reader. ``cpu_percent`` is utilisation since the previous call (non-blocking)."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        psutil.cpu_percent(interval=None)  # the first call only sets the baseline

    def cpu_percent(self) -> float:
        return float(self._psutil.cpu_percent(interval=None))

    def memory_percent(self) -> float:
        return float(self._psutil.virtual_memory().percent)

    def disk_percent(self, path: str) -> float:
        return float(self._psutil.disk_usage(path).percent)


SYSTEM_RESOURCES = ("cpu", "memory", "disk")


@dataclass
class SystemCheck:
    spec: CheckSpec
    resource: str
    thresholds: Thresholds
    path: str = "/"
    reader: SystemReader | None = None

    def prepare(self) -> None:
        """Import psutil (and set the CPU baseline) now, not on a worker thread: see SqlCheck.prepare."""
        if self.reader is None:
            self.reader = PsutilReader()

    def run(self, previous: Status | None) -> Verdict:
        if self.reader is None:
            self.reader = PsutilReader()
        if self.resource == "cpu":
            value, what = self.reader.cpu_percent(), "CPU"
        elif self.resource == "memory":
            value, what = self.reader.memory_percent(), "memory"
        else:
            try:
                value, what = self.reader.disk_percent(self.path), f"disk {self.path}"
            except FileNotFoundError:  # a volume not mounted (yet), a typo: say which path, not errno
                return Verdict(Status.FAILING, f"disk path {self.path!r} does not exist")
        status = self.thresholds.classify(value, previous)
        return Verdict(status, f"{what} at {value:.1f}%{self._against(status)}", value)

    def _against(self, status: Status) -> str:
        if status is Status.FAILING:
            return f" (critical at {self.thresholds.critical:g}%)"
        if status is Status.DEGRADED:
            return f" (warning at {self.thresholds.warning:g}%)"
        return ""


# ---- tcp / http -----------------------------------------------------------


@dataclass
class TcpCheck:
    spec: CheckSpec
    host: str
    port: int

    def run(self, previous: Status | None) -> Verdict:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.spec.timeout_s):
                pass
        except OSError as exc:
            return Verdict(Status.FAILING, f"cannot connect to {self.host}:{self.port}: {reason_of(exc)}")
        return Verdict(Status.HEALTHY, f"connected to {self.host}:{self.port}")


# ---- python ---------------------------------------------------------------


@dataclass
class PythonCheck:
    """Calls ``module:function``. It may return a Status, a status word, a bool,
    ``(status, message)``, or raise (→ failing with the exception as message)."""

    # The user's own module: under opentelemetry-instrument it is imported once every
    # instrumentor is loaded (Scheduler.prepare_user_code), so that what it creates at import
    # (a Flask app, an engine) is instrumented like the rest of the application.
    imports_user_code: ClassVar[bool] = True

    spec: CheckSpec
    target: str
    where: str = ""  # file:line:column of the config entry
    _function: Callable[[], Any] | None = None
    _prepared: bool = False
    _import_error: str | None = None

    def prepare(self) -> None:
        """Import the module on the thread that starts the checks, as SqlCheck.prepare does.

        On a worker thread, a fork server forking during that first import left the
        module's import lock held for ever in the child. A module that cannot be imported
        is said now, with the config entry's position; the check then reports failing
        without trying again (an import on a worker thread is the hazard itself).
        Once per check: a fork child's scheduler prepares the same, already imported, check.
        """
        if self._prepared:
            return
        self._prepared = True
        try:
            self._resolve()
        except (Exception, SystemExit) as exc:  # the user's module runs here: anything it raises
            self._import_error = self._located(import_failure(self.spec.name, self.target, exc))
            diagnostics_logger().error(
                "%s; it reports failing, the application continues.", self._import_error
            )

    def run(self, previous: Status | None) -> Verdict:
        if self._import_error is not None:
            return Verdict(Status.FAILING, f"{self._import_error} (at start)")
        # Not prepared (`otelbundle health run`, which does not fork): imported on first use,
        # and a failed import said in the words the app uses at start.
        try:
            function = self._resolve()
        except (Exception, SystemExit) as exc:
            return Verdict(Status.FAILING, self._located(import_failure(self.spec.name, self.target, exc)))
        return to_verdict(function())

    def _located(self, message: str) -> str:
        return f"{self.where or 'otelbundle.yaml'}: {message}"

    def _resolve(self) -> Callable[[], Any]:
        if self._function is None:
            module_name, _, attr = self.target.partition(":")
            module = importlib.import_module(module_name)
            function = getattr(module, attr, None)
            if not callable(function):
                raise LookupError(f"module {module_name!r} has no callable {attr!r}")
            self._function = function
        return self._function


def import_failure(check_name: str, target: str, exc: BaseException) -> str:
    """How a python check whose module cannot be imported is said, everywhere it is said.

    The app at start (stderr and the check's result), ``otelbundle health run`` and the
    config's own look-up all use this one wording, so what a person reads in one place
    can be searched for in the other: the check, its target, the exception's type and text.
    """
    return f"health check {check_name!r}: cannot import {target}: {type(exc).__name__}: {_text_of(exc)}"


def _text_of(exc: BaseException) -> str:
    """``str(exc)``, first line; never raises (the user's exception class owns ``__str__``)."""
    try:
        text = str(exc).strip()
    except Exception:
        return "<the exception could not be turned into text>"
    return text.splitlines()[0] if text else ""


def to_verdict(returned: Any) -> Verdict:
    message = ""
    if isinstance(returned, tuple) and len(returned) == 2:
        returned, message = returned[0], str(returned[1])
    if isinstance(returned, Status):
        status = returned
    elif isinstance(returned, bool) or returned is None:
        status = Status.HEALTHY if returned in (True, None) else Status.FAILING
    elif isinstance(returned, str):
        status = Status.parse(returned)
    elif inspect.iscoroutine(returned):
        returned.close()  # never awaited: without close() Python warns on the app's stderr
        raise TypeError("check is an async function; use a plain function that returns a status")
    else:
        raise TypeError(
            f"check returned {type(returned).__name__}; expected a status, bool or (status, message)"
        )
    return Verdict(status, message or status.label)


def reason_of(exc: BaseException) -> str:
    """One line saying why ``exc`` happened (a URLError's own reason)."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return reason_of(exc.reason) if isinstance(exc.reason, BaseException) else str(exc.reason)
    text = str(exc) or type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__

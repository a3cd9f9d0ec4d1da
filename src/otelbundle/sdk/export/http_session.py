"""A ``requests`` session for the OTLP/HTTP span and log exporters that a forked child does not share.

The SDK's batch processors keep their exporter in a forked child (gunicorn
``--preload``, multiprocessing), and with it the exporter's ``requests.Session``,
whose connection pool holds the parent's keep-alive socket. The child's first
export then goes out on that socket: when parent and child export at the same
moment, one reads the other's answer and that export fails or times out.
:class:`ForkAwareSession` notices on its first request in a new process and
replaces its connection pools with empty ones: the inherited socket is never
written to by the child (nor shut down: it stays the parent's).

It reaches the exporters through the SDK configurator's ``exporter_args_map``
(keyed by exporter class) and the exporters' public ``session=`` argument
(:func:`exporter_args`, with ``max_request_size=0``: the collector's limit, not
the exporter's, decides what is too large, and our session sees its answer), only where the user has not configured a session of
their own: a credential provider (``OTEL_PYTHON_EXPORTER_OTLP_HTTP_*CREDENTIAL_PROVIDER``
makes the exporter load one) or a ``session`` in an ``exporter_args_map`` given
to the configurator (:func:`merged_exporter_args`). The fork-safe metric reader
makes its metric exporter again in a forked child; it is given a session of this
kind too (:func:`metric_exporter_factory`), for the exit flush (exit_flush.py).
"""

from __future__ import annotations

import contextlib
import importlib

# requests imports netrc on a session's first request, on an export thread. CPython does not
# reset per-module import locks in a forked child: a fork during that import (gunicorn --preload
# forking its workers as the first metrics leave) leaves the lock held for ever there, and every
# export and the flush at exit block on it. Imported here, while the distro is configured, on the
# main thread (tests/integration/test_thread_imports.py).
import netrc  # noqa: F401
import os
import queue
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import BaseAdapter, HTTPAdapter

from otelbundle.config import environment
from otelbundle.sdk import forking
from otelbundle.sdk.export import exit_flush, refusals

if TYPE_CHECKING:
    from requests.sessions import _Settings  # the stubs' name for what merge_environment_settings returns

# (signal, the exporter's module, its class): the OTLP/HTTP exporters the batch processors keep.
HTTP_EXPORTERS = (
    ("traces", "opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter"),
    ("logs", "opentelemetry.exporter.otlp.proto.http._log_exporter", "OTLPLogExporter"),
)
# URLs whose environment settings a session remembers (an exporter posts to one).
_SETTINGS_LIMIT = 16
# The entry point names of those exporters in OTEL_TRACES_EXPORTER / OTEL_LOGS_EXPORTER.
_HTTP_ENTRY_POINT = "otlp_proto_http"


# The answer of each signal's collector service (by the drop report's signal names), and its
# count of rejected items.
_ANSWERS: dict[str, tuple[str, str, str]] = {
    "spans": (
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        "ExportTraceServiceResponse",
        "rejected_spans",
    ),
    "logs": (
        "opentelemetry.proto.collector.logs.v1.logs_service_pb2",
        "ExportLogsServiceResponse",
        "rejected_log_records",
    ),
}
# Told of items a collector accepted the request for but rejected (signal, items, its message).
Rejected = Callable[[str, int, str], None]


class ForkAwareSession(requests.Session):
    """A session whose connection pools are new in each process that uses it.

    It also reads the environment's proxy and CA bundle settings once per URL,
    not on every export: ``requests`` scans the whole environment for proxy
    variables on each request (a third of the CPU a small export takes). Proxy
    variables changed after the first export to a URL are not seen.
    """

    def __init__(self, signal: str | None = None, rejected: Rejected | None = None) -> None:
        super().__init__()
        self._pid = os.getpid()
        _sessions.add(self)
        forking.on_child("otlp http sessions", _after_fork_in_child)
        self._environment_settings: dict[tuple[Any, ...], _Settings] = {}
        self._signal = signal
        self._rejected = rejected
        # The answer's message class, imported here, on the configuring thread: an import on the
        # export thread is what a fork can catch mid-way (tests/integration/test_thread_imports.py).
        answer = _ANSWERS.get(signal or "") if rejected is not None else None
        self._answer: tuple[Any, str] | None = None
        if answer is not None:
            with contextlib.suppress(ImportError, AttributeError):
                self._answer = (getattr(importlib.import_module(answer[0]), answer[1]), answer[2])

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self._pid != os.getpid():
            self._after_fork()
        if "timeout" in kwargs:
            kwargs["timeout"] = exit_flush.connect_bound(kwargs["timeout"])
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.exceptions.ConnectionError as error:
            final = exit_flush.final(error, url)
            if final is not None:
                raise final from error
            raise
        status = response.status_code
        if status == 200:
            if self._rejected is not None and response.content:
                self._partial_success(response.content)
        else:  # a refusal for size: the export wrapper sends the batch again in parts
            refusals.note_answer(status, kwargs.get("data"), kwargs.get("headers"))
        return response

    def _partial_success(self, body: bytes) -> None:
        """A 200 whose body says the collector rejected some items (OTLP partial success): the
        exporter reads only the status and counts the whole batch as delivered."""
        if self._answer is None or self._rejected is None:
            return
        message_class, count_field = self._answer
        try:
            message = message_class()
            message.ParseFromString(body)
            partial = message.partial_success
            rejected = int(getattr(partial, count_field))
            said = str(partial.error_message)
        except Exception:  # not an OTLP protobuf answer (a proxy's page): nothing to count
            return
        if rejected > 0:
            self._rejected(self._signal or "", rejected, said)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        if proxies:  # proxies given with the request: merged as requests does, each time
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        try:
            key = (url, stream, verify, cert, self.verify, self.cert, tuple(sorted(self.proxies.items())))
            settings = self._environment_settings.get(key)
        except TypeError:  # something unhashable: no remembering
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if len(self._environment_settings) >= _SETTINGS_LIMIT:
                self._environment_settings.clear()
            self._environment_settings[key] = settings
        remembered = settings.copy()
        remembered["proxies"] = dict(settings["proxies"] or {})  # the caller's copy to change
        return remembered

    def _after_fork(self) -> None:
        """Empty pools for this process; the inherited ones (the parent's sockets) are left unused."""
        self._pid = os.getpid()
        self._environment_settings = {}
        for adapter in self.adapters.values():
            _release_inherited_pools(adapter)
        for prefix in list(self.adapters):
            self.mount(prefix, HTTPAdapter())
        # requests takes the cookie jar's lock on every request: one held at the fork is held
        # for ever here. A new jar (a collector sets no cookies an export needs) has its own.
        self.cookies = requests.cookies.RequestsCookieJar()


# Every session of ours in this process, for the fork hook.
_sessions: weakref.WeakSet[ForkAwareSession] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Right after fork, before the child runs anything: each session's pools are this child's."""
    for session in list(_sessions):
        session._after_fork()


def _release_inherited_pools(adapter: BaseAdapter) -> None:
    """The parent's connection pools, their locks new and their queues emptied, in this child.

    A lock the parent's export thread held at the instant of the fork (taking a connection
    from a pool's queue) is held for ever in the child, and urllib3 closes a pool's
    connections from a finalizer, through that lock, when the pool is collected or at exit:
    a child forked so (2 in 150 forks beside a busy export thread) hung at exit, and its
    parent's ``waitpid`` with it. Emptied, the parent's sockets are not closed by the child."""
    managers = [getattr(adapter, "poolmanager", None), *getattr(adapter, "proxy_manager", {}).values()]
    for manager in managers:
        container = getattr(manager, "pools", None)
        if container is None:
            continue
        container.lock = threading.RLock()
        for key in container.keys():  # noqa: SIM118 - urllib3 refuses iteration itself
            connections = getattr(container[key], "pool", None)
            if isinstance(connections, queue.Queue):
                queue.Queue.__init__(connections, connections.maxsize)  # new locks, nothing queued


def _user_session(env: Mapping[str, str], signal: str) -> bool:
    """The user has the exporter load a session of theirs (a credential provider entry point)."""
    return bool(
        environment.get(env, "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER")
        or environment.get(env, f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{signal.upper()}_CREDENTIAL_PROVIDER")
    )


def _uses_http(env: Mapping[str, str], signal: str) -> bool:
    names = {n.strip() for n in environment.get(env, f"OTEL_{signal.upper()}_EXPORTER").split(",")}
    return _HTTP_ENTRY_POINT in names or (
        "otlp" in names and environment.otlp_protocol(env, signal) == "http/protobuf"
    )


def exporter_args(env: Mapping[str, str], rejected: Rejected | None = None) -> dict[type, dict[str, Any]]:
    """``exporter_args_map`` entries giving each OTLP/HTTP span and log exporter in use its own
    session; ``rejected`` is told of items a collector's partial-success answer rejected."""
    args: dict[type, dict[str, Any]] = {}
    for signal, module, name in HTTP_EXPORTERS:
        if not _uses_http(env, signal) or _user_session(env, signal):
            continue
        try:
            exporter_class = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        args[exporter_class] = {
            "session": ForkAwareSession("spans" if signal == "traces" else signal, rejected),
            # The exporter's own limit (64 MiB before compression) dropped a whole batch unsent
            # when one item in it was huge. The collector, whose limit the user sets, decides
            # instead: what it refuses for size goes again in parts (refusals.py).
            "max_request_size": 0,
        }
    return args


def metric_exporter_factory(exporter_class: Callable[..., Any], env: Mapping[str, str]) -> Callable[..., Any]:
    """How the fork-safe metric reader makes its OTLP/HTTP exporter: with a session of ours (so a
    collector that is not there is not waited for at exit), unless the user has one loaded."""
    if _user_session(env, "metrics"):
        return exporter_class

    def with_our_session(**kwargs: Any) -> Any:
        return exporter_class(session=ForkAwareSession(), **kwargs)  # one per process that makes one

    return with_our_session


def merged_exporter_args(
    ours: Mapping[type, Mapping[str, Any]], theirs: Mapping[type, Mapping[str, Any]] | None
) -> dict[type, dict[str, Any]]:
    """The caller's ``exporter_args_map`` with our sessions added where it sets none."""
    merged = {cls: dict(args) for cls, args in (theirs or {}).items()}
    for cls, args in ours.items():
        given = merged.setdefault(cls, {})
        if "session" in given:
            continue  # their session does not tell us the collector's answers: no size limit lifted
        for key, value in args.items():
            given.setdefault(key, value)  # what the caller set wins
    return merged

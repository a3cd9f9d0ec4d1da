"""A Celery prefork pool process flushes at its exit, as other multiprocessing children do.

billiard's pool worker ends its process with ``os._exit()`` in its own exit path
(``billiard.pool.Worker._do_exit``), before the finalizers that multiprocessing children
run at exit (:func:`otelbundle.sdk.forking.on_child_exit`). So a pool process recycled by
``--max-tasks-per-child`` (or ``--max-memory-per-child``), or stopped at the worker's
shutdown, lost what it held: its task spans, its log lines, its metrics (a reviewer saw
2 task spans of 6 and no log line arrive). Celery's public ``worker_process_shutdown``
signal runs in the pool process just before that exit: it runs the same exit hooks.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

from otelbundle.sdk import forking

_log = logging.getLogger("otelbundle.fork")


def after_instrumentation() -> None:
    """``opentelemetry_post_instrument`` entry point; never raises into the app's start-up."""
    try:
        flush_pool_processes_at_exit()
    except Exception:
        _log.warning("otelbundle: Celery pool processes may not flush their telemetry at exit", exc_info=True)


def flush_pool_processes_at_exit() -> bool:
    """Connect the exit hooks to ``worker_process_shutdown`` when Celery is in use (the contrib's
    Celery instrumentation has imported it by now); False when it is not."""
    if "celery" not in sys.modules:
        return False
    signals = importlib.import_module("celery.signals")
    signals.worker_process_shutdown.connect(_at_pool_process_exit, weak=False)
    return True


def _at_pool_process_exit(**_: Any) -> None:
    forking.run_exit_hooks()  # each hook is isolated and logged; the runtime's flush is bounded

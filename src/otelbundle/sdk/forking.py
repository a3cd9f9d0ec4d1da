"""One registry for what otelbundle's parts do in a forked child (gunicorn, multiprocessing).

Threads and held locks do not survive ``fork()``: each part that runs threads
registers here, by name, what its child must do. The registry installs one
``os.register_at_fork`` hook and runs the registered hooks in registration
order, each isolated (one failing part is logged and the others still run).
Registering a name again replaces its hook, so a re-configured part never
runs twice.

``on_child_exit`` covers the one case ``after_in_child`` cannot: multiprocessing
children end with ``os._exit()``, so ``atexit`` never runs there, and
multiprocessing clears its finalizer registry when a child starts. Those hooks
are armed through multiprocessing's own after-fork registry (which runs after
that clear) as finalizers run at the child's exit.
"""

from __future__ import annotations

import logging
import multiprocessing.util
import os
import threading
from collections.abc import Callable

_log = logging.getLogger("otelbundle.fork")

Hook = Callable[[], None]

_child_hooks: dict[str, Hook] = {}
_exit_hooks: dict[str, Hook] = {}
_lock = threading.Lock()
_installed = False


class _ExitArmer:
    """Weak-referenceable owner for multiprocessing's after-fork registry (it keys on weakrefs)."""

    def arm(self) -> None:
        multiprocessing.util.Finalize(self, run_exit_hooks, exitpriority=100)


_armer = _ExitArmer()


def on_child(name: str, hook: Hook) -> None:
    """Run ``hook`` in every forked child, right after fork; replaces an earlier hook of ``name``."""
    _install()
    with _lock:
        _child_hooks[name] = hook


def on_child_exit(name: str, hook: Hook) -> None:
    """Run ``hook`` when a multiprocessing child exits (where atexit does not run)."""
    _install()
    with _lock:
        _exit_hooks[name] = hook


def remove(name: str) -> None:
    """Forget both hooks of ``name`` (its part was shut down)."""
    with _lock:
        _child_hooks.pop(name, None)
        _exit_hooks.pop(name, None)


def registered() -> list[str]:
    """Names with a child hook, in the order they run."""
    with _lock:
        return list(_child_hooks)


def run_child_hooks() -> None:
    """What the fork hook runs in the child; public so tests can run it without forking."""
    global _lock
    _lock = threading.Lock()  # the parent may have held it at fork
    for name, hook in list(_child_hooks.items()):
        _run(name, hook)


def run_exit_hooks() -> None:
    for name, hook in list(_exit_hooks.items()):
        _run(name, hook)


def _run(name: str, hook: Hook) -> None:
    try:
        hook()
    except Exception:
        _log.exception("otelbundle: %s could not restart after fork", name)


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=run_child_hooks)
    multiprocessing.util.register_after_fork(_armer, _ExitArmer.arm)

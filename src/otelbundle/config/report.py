"""How otelbundle reports on itself: one logger, ``otelbundle.diagnostics``, one line per fact.

Bad settings, configuration problems (``ERROR file:line:col: message``), delivery
problems and exit summaries all go here. The logger writes to whatever
``sys.stderr`` is at the time on its own handler and does not propagate: the
lines must be seen before the application configures logging, and must never
enter the OTLP log pipeline (a warning that logs could not be exported must not
itself be queued for export). The rest of ``otelbundle.*`` propagates normally.

A configuration problem already reported by this process (a YAML syntax error
seen by several sections) is not repeated.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable

from otelbundle.config.problems import ConfigProblem, in_file_order

LOGGER_NAME = "otelbundle.diagnostics"
_reported: set[str] = set()
_lock = threading.Lock()


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (test capture, a redirected stderr)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def enabled(logger: logging.Logger) -> logging.Logger:
    """``logger``, undoing a blanket ``disable_existing_loggers`` for it.

    ``logging.config.dictConfig`` disables every logger that exists when it runs and
    that its config does not name, unless told ``disable_existing_loggers: False``
    (the default is True; a Django ``LOGGING`` without the key does it). otelbundle's
    loggers exist from start-up, so what they say (telemetry not delivered, alert
    transitions, notification failures, health changes) would be dropped without a
    word. A config that names the logger still decides: ``level: CRITICAL`` silences it.
    """
    if logger.disabled:
        logger.disabled = False
    return logger


def diagnostics_logger() -> logging.Logger:
    """The one logger otelbundle reports on itself with (stderr only, never exported)."""
    logger = enabled(logging.getLogger(LOGGER_NAME))
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    return logger


def log_problems(problems: Iterable[ConfigProblem], consequence: str, *, once: bool = True) -> int:
    """Log each problem on its own line, then ``consequence`` once; the number of problems.

    ``consequence`` may use ``{n}`` for the number of problems. With ``once`` (start-up),
    a problem this process already reported is not repeated; a reload passes ``once=False``.
    """
    problems = in_file_order(problems)
    if not problems:
        return 0
    logger = diagnostics_logger()
    with _lock:
        fresh = [p for p in problems if not once or str(p) not in _reported]
        _reported.update(str(p) for p in fresh)
    for problem in fresh:
        logger.error("%s", problem)
    logger.error("otelbundle: %s; the application continues.", consequence.format(n=len(problems)))
    return len(problems)


def forget_reported() -> None:
    """Tests and reloads: report every problem again."""
    with _lock:
        _reported.clear()


def shown_on_console(logger: logging.Logger, level: int) -> bool:
    """Whether a record of ``level`` on ``logger`` reaches the terminal through the app's logging:
    a stream handler on stderr or stdout on the way up, or Python's last-resort handler when the
    way up has no handler at all. Under the distro the root logger has the OTLP handler, so a
    warning of ours on ``otelbundle.*`` is exported but, without a console handler of the app's,
    seen by nobody running the service: such facts are also said here, on stderr."""
    if not logger.isEnabledFor(level):
        return False
    consoles = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    any_handler = False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            any_handler = True
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and handler.stream in consoles
                and handler.level <= level
            ):
                return True
        current = current.parent if current.propagate else None
    return not any_handler and logging.lastResort is not None and logging.lastResort.level <= level


def warn_seen(logger: logging.Logger, message: str, *args: object, exc_info: bool = False) -> None:
    """``logger.warning``, and the same line on stderr when the app's logging would show it to
    nobody (:func:`shown_on_console`): a fact a person must act on (an alert sent nowhere, a
    setting that waits for a restart, a rule losing spans) is not left only in the export."""
    enabled(logger).warning(message, *args, exc_info=exc_info, stacklevel=2)  # the caller's line
    try:
        shown = shown_on_console(logger, logging.WARNING)
    except Exception:  # the app's logging changing under us: say it on stderr to be sure
        shown = False
    if not shown:
        diagnostics_logger().warning(message, *args, stacklevel=2)

"""The ``sql`` check kind: a database answers a cheap query.

Apart from the other kinds for its drivers (sqlite3, psycopg or psycopg2, imported on the
thread that starts the checks) and the passwords a DSN carries, which no message shows.
"""

from __future__ import annotations

import importlib
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from otelbundle.health.checks import CheckSpec, reason_of
from otelbundle.health.model import Status, Verdict

SQL_DRIVERS = ("sqlite3", "postgresql")


def postgres_driver() -> Any | None:
    """psycopg (3) or psycopg2, whichever is installed."""
    for name in ("psycopg", "psycopg2"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


@dataclass
class SqlCheck:
    """Opens a connection, runs one cheap query, closes: no pool held between runs."""

    spec: CheckSpec
    driver: str
    dsn: str
    query: str = "SELECT 1"

    def prepare(self) -> None:
        """Import the driver on the thread that starts the checks, before the app can fork.

        CPython does not reset its per-module import locks in a forked child: a gunicorn
        ``--preload`` master forking while a health worker imported psycopg (79 modules, on
        the first run) left that lock held for ever in the worker, hanging its check and
        the app's own ``import psycopg`` (docs/fork-servers.md).
        """
        if self.driver == "sqlite3":
            importlib.import_module("sqlite3")
        else:
            postgres_driver()

    def run(self, previous: Status | None) -> Verdict:
        deadline = time.monotonic() + self.spec.timeout_s
        try:
            connection = self._connect(deadline)
        except Exception as exc:  # every DB-API driver has its own error hierarchy
            return Verdict(Status.FAILING, f"cannot connect ({self.driver}): {self._hide(reason_of(exc))}")
        try:
            cursor = connection.cursor()
            if self.driver == "postgresql":
                # The server ends a query still running at the check's timeout (a lock wait,
                # pg_sleep): else the worker waited for ever and every later run was skipped.
                remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
                cursor.execute(f"SET statement_timeout = {remaining_ms}")
            read_first_row(cursor, self.query)
        except Exception as exc:
            return Verdict(Status.FAILING, f"query failed ({self.driver}): {self._hide(reason_of(exc))}")
        finally:
            connection.close()
        return Verdict(Status.HEALTHY, f"{self.driver} answered {self.query!r}")

    def _connect(self, deadline: float) -> Any:
        if self.driver == "sqlite3":
            import sqlite3

            # mode=rw: a missing database file is a failure, not a new empty database.
            target = self.dsn if self.dsn.startswith("file:") else f"file:{self.dsn}?mode=rw"
            connection = sqlite3.connect(
                target, uri=True, timeout=self.spec.timeout_s, check_same_thread=False
            )
            # A query still running at the timeout is interrupted ("interrupted"), as
            # PostgreSQL's statement_timeout does, so the worker thread ends with it.
            connection.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            return connection
        module = postgres_driver()
        if module is None:
            raise RuntimeError("no PostgreSQL driver installed (pip install psycopg)")
        timeout = max(1, int(self.spec.timeout_s))
        return module.connect(self.dsn, connect_timeout=timeout)

    def _hide(self, text: str) -> str:
        """libpq quotes a DSN it cannot parse, password and all: never in a message."""
        for secret in dsn_passwords(self.dsn):
            text = text.replace(secret, "***")
        return text


def read_first_row(cursor: Any, query: str) -> None:
    """Run ``query`` and read at most its first row: the check needs an answer, not the result.

    ``fetchall`` held every row in memory (a ``SELECT *`` on a big table, every run). sqlite3
    steps one row. psycopg (3) streams (single-row mode) and cancels the rest when the stream
    is closed; psycopg2's client library (libpq) receives the whole result before the first
    row is read, so there the query itself must be cheap (docs/health.md).
    """
    stream = getattr(cursor, "stream", None)
    if stream is not None:
        rows = stream(query)
        try:
            next(rows, None)
        finally:
            rows.close()
        return
    cursor.execute(query)
    if cursor.description is not None:  # a statement that returns no rows has nothing to read
        cursor.fetchone()


_USERINFO = re.compile(r"//[^:/@\s]*:([^@\s]+)@")
_PASSWORD_KEY = re.compile(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def dsn_passwords(dsn: str) -> list[str]:
    """The password(s) written in a libpq DSN, as written and URL-decoded."""
    found = _USERINFO.findall(dsn) + _PASSWORD_KEY.findall(dsn)
    found += [urllib.parse.unquote(p) for p in found] + [p.strip("'") for p in found]
    return sorted({p for p in found if p}, key=len, reverse=True)

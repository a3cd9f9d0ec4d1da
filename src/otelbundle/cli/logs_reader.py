"""The log stores ``otelbundle logs`` reads: one query API each, and the LogQL it builds for Loki.

VictoriaLogs (the stack's default store) is queried in LogsQL
(:mod:`otelbundle.cli.stack.logsql` builds and runs it), Loki in LogQL; a
:class:`LogReader` hides which, so the command has the same flags and output
either way. The command itself is :mod:`otelbundle.cli.logs`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from otelbundle.cli.backends import Backends, LokiEntry, basic_auth, redacted, without_credentials
from otelbundle.cli.stack import logsql
from otelbundle.cli.stack.logstore import LOKI

DEFAULT_LOKI = "http://127.0.0.1:3100"
STORE_NAMES = {"victorialogs": "VictoriaLogs", LOKI: "Loki"}
LANGUAGES = {"victorialogs": "LogsQL", LOKI: "LogQL"}

_PLAIN_NAME = re.compile(r"[\w-]+")


def logql_string(value: str) -> str:
    """A LogQL (Go) double-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def build_logql(trace_id: str | None = None, services: Sequence[str] = (), grep: str | None = None) -> str:
    """The LogQL for the filters: service_name is an index label, trace_id structured metadata.

    Each service is a regular expression (Loki anchors it), several are alternatives;
    without one, every service matches.
    """
    if len(services) == 1 and _PLAIN_NAME.fullmatch(services[0]):
        query = "{service_name=" + logql_string(services[0]) + "}"
    else:
        pattern = "|".join(services) if services else ".+"
        query = "{service_name=~" + logql_string(pattern) + "}"
    if trace_id:
        query += " | trace_id=" + logql_string(trace_id)
    if grep:
        query += " |= " + logql_string(grep)
    return query


@dataclass(frozen=True)
class LogReader:
    """One store's query API: ``read`` returns entries of a query in the store's own language."""

    store: str
    url: str  # as given: may hold user:password@ for a store behind basic authentication

    @property
    def base(self) -> str:
        """The URL requests go to, without credentials (those go in a header)."""
        return without_credentials(self.url)

    @property
    def shown(self) -> str:
        """The URL as messages show it: never the password."""
        return redacted(self.url)

    @property
    def name(self) -> str:
        return STORE_NAMES[self.store]

    @property
    def language(self) -> str:
        return LANGUAGES[self.store]

    def build(self, trace_id: str | None, services: Sequence[str], grep: str | None) -> str:
        if self.store == LOKI:
            return build_logql(trace_id, services, grep)
        return logsql.build_logsql(trace_id, services, grep)

    def read(self, query: str, *, start_ns: int, end_ns: int, limit: int, direction: str) -> list[LokiEntry]:
        auth = basic_auth(self.url)
        if self.store == LOKI:
            return Backends(loki=self.base).loki_query_range(
                query, start_ns=start_ns, end_ns=end_ns, limit=limit, direction=direction, headers=auth
            )
        return logsql.query(
            self.base, query, start_ns=start_ns, end_ns=end_ns, limit=limit, direction=direction, headers=auth
        )

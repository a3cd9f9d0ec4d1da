"""Which log store the stack sends logs to, where it listens, and how a person opens a trace's logs.

VictoriaLogs (Apache-2.0) is the default: the project may build it from its Go
module, and its web UI (vmui) is inside the binary, so a trace's log lines are
one click away from Jaeger. Loki stays a choice (`otelbundle stack up --logs
loki`) for users who bring its binary or its image; the project never builds it
(its module is AGPL). Standard library only: the demo and `otelbundle logs` use
this from a plain install.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

VICTORIALOGS = "victorialogs"
LOKI = "loki"
LOG_STORES = (VICTORIALOGS, LOKI)
DEFAULT_LOG_STORE = VICTORIALOGS

# Loopback addresses of the native stack (shared/design/stack.md).
VICTORIALOGS_URL = "http://127.0.0.1:9428"
LOKI_URL = "http://127.0.0.1:3100"
DEFAULT_URLS = {VICTORIALOGS: VICTORIALOGS_URL, LOKI: LOKI_URL}
# Variables naming another address of each store (e.g. a compose or k8s port-forward).
URL_VARIABLES = {VICTORIALOGS: "OTELBUNDLE_VICTORIALOGS_URL", LOKI: "OTELBUNDLE_LOKI_URL"}
STORE_VARIABLE = "OTELBUNDLE_LOG_STORE"

# How far back the web UI looks when opened from a trace: the stack's retention. vmui reads
# a preset's id from g0.relative_time (its title, lower-cased, spaces as _); a bare
# g0.range_input without g0.end_input falls back to its default, the last 5 minutes.
UI_RANGE = "last_7_days"


def store_url(store: str, env: Mapping[str, str] | None = None) -> str:
    """The base URL of ``store``: its variable when set, else the native stack's address."""
    env = os.environ if env is None else env
    return (env.get(URL_VARIABLES[store]) or DEFAULT_URLS[store]).rstrip("/")


def recorded_store(data_dir: Path) -> str | None:
    """The store the last `otelbundle stack up` in ``data_dir`` chose, if any."""
    try:
        store = json.loads((data_dir / "run" / "topology.json").read_text()).get("logs")
    except (OSError, ValueError, AttributeError):
        return None
    return store if store in LOG_STORES else None


def default_store(env: Mapping[str, str] | None = None, data_dir: Path | None = None) -> str:
    """$OTELBUNDLE_LOG_STORE, else what the native stack runs (its recorded choice), else VictoriaLogs."""
    env = os.environ if env is None else env
    given = env.get(STORE_VARIABLE, "").strip().lower()
    if given in LOG_STORES:
        return given
    if data_dir is None:
        explicit = env.get("OTELBUNDLE_STACK_DIR")
        data_dir = Path(explicit) if explicit else Path.home() / ".local" / "share" / "otelbundle" / "stack"
    return recorded_store(data_dir) or DEFAULT_LOG_STORE


def logsql_string(value: str) -> str:
    """A LogsQL quoted string (JSON-style escapes)."""
    return json.dumps(value, ensure_ascii=False)


def trace_logsql(trace_id: str) -> str:
    """The LogsQL for one trace's lines, as the web UI link and `otelbundle logs --trace-id` use it."""
    return f"trace_id:{logsql_string(trace_id)}"


def vmui_link(base: str, query: str, relative_time: str = UI_RANGE) -> str:
    """VictoriaLogs' web UI (vmui) with ``query`` filled in and run over ``relative_time``."""
    params = urllib.parse.urlencode(
        {"query": query, "g0.relative_time": relative_time}, quote_via=urllib.parse.quote
    )
    return f"{base.rstrip('/')}/select/vmui/#/?{params}"


def trace_logs_link(trace_id: str, base: str = VICTORIALOGS_URL) -> str:
    """Where a person reads one trace's log lines in the browser (VictoriaLogs' vmui)."""
    return vmui_link(base, trace_logsql(trace_id))

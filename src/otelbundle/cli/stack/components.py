"""The backends of the native stack: how to find each binary, start it, and know it is healthy.

Every component listens on loopback (the configs default to 127.0.0.1) on the
ports of ``shared/design/stack.md``. Config files are the same ones compose
and Kubernetes use; only data directories come from the environment.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from otelbundle.cli.stack.logstore import DEFAULT_LOG_STORE, LOG_STORES, LOKI, VICTORIALOGS

CACHE_ROOT = Path(os.environ.get("OTELBUNDLE_CACHE", Path.home() / ".cache" / "otelbundle"))
# The jaeger-ui release the stack is tested with (Jaeger's Go module carries no UI; the
# stack runs Jaeger v2.12.0, module v1.75.0, and its API serves this UI unchanged).
JAEGER_UI_VERSION = "1.76.0"


def jaeger_ui_assets(env: Mapping[str, str]) -> Path | None:
    """The unpacked Jaeger UI (a folder holding index.html), or None.

    ``make stack`` unpacks the release asset into the cache; a folder named by
    OTELBUNDLE_JAEGER_UI_ASSETS (holding ``build/index.html`` or
    ``index.html``) is used as it is.
    """
    candidates = [CACHE_ROOT / "jaeger-ui" / f"v{JAEGER_UI_VERSION}" / "build"]
    explicit = env.get("OTELBUNDLE_JAEGER_UI_ASSETS")
    if explicit and Path(explicit).is_dir():
        candidates = [Path(explicit) / "build", Path(explicit), *candidates]
    return next((c for c in candidates if (c / "index.html").is_file()), None)


@dataclass(frozen=True)
class Component:
    """One backend process."""

    name: str
    version: str
    binary: str  # file name in the cache or on PATH
    path_names: tuple[str, ...]  # names to look for on PATH, in order
    health_url: str
    ports: tuple[int, ...]
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    # Other names the cache may hold it under, with their version (the collector:
    # the official otelcol-contrib release when it could not be built).
    alternates: tuple[tuple[str, str], ...] = ()
    # The installable this process runs, when several processes run one binary
    # (the scale-out gateways run otelcol-bundle); defaults to ``name``.
    installs: str = ""
    # How long a stop (SIGTERM) may take before the runner kills it.
    stop_grace: float = 15.0

    @property
    def install_name(self) -> str:
        """The name `otelbundle stack install` knows this binary by."""
        return self.installs or self.name

    @property
    def env_var(self) -> str:
        """Variable that names an explicit binary, e.g. OTELBUNDLE_LOKI_BIN."""
        return f"OTELBUNDLE_{self.install_name.upper().replace('-', '_')}_BIN"

    def cache_path(self) -> Path:
        return cache_entry(self.binary, self.version) / self.binary

    def cache_paths(self) -> list[Path]:
        """Where `stack install` may have put it, preferred first."""
        return [self.cache_path()] + [cache_entry(n, v) / n for n, v in self.alternates]

    def locate(self, env: Mapping[str, str]) -> str | None:
        """An explicit variable wins, then the version-keyed cache, then PATH."""
        explicit = env.get(self.env_var)
        if explicit:
            return explicit if os.access(explicit, os.X_OK) else None
        for path in self.cache_paths():
            if os.access(path, os.X_OK):
                return str(path)
        for name in self.path_names:
            found = shutil.which(name)
            if found:
                return found
        return None


def cache_entry(name: str, version: str) -> Path:
    """One binary's folder in the cache: written whole by `stack install`, or not at all."""
    return CACHE_ROOT / "bin" / f"{name}-{version}"


# The scale-out gateways (`stack up --gateways N`): gateway i (1..N) listens on
# these bases + i, all on loopback.
GATEWAY_OTLP_GRPC_BASE = 4320
GATEWAY_HEALTH_BASE = 13133
GATEWAY_METRICS_BASE = 8888
# At most this many: each gateway is a whole collector with its own memory limit (1 GiB by
# default: 17 GiB for the agent and 16 gateways), more than one machine's stack can use for
# load-balancing; and the ports must stay clear of the stack's own (gateway 202's metrics
# port would be Prometheus' 9090).
MAX_GATEWAYS = 16


# A collector's stop hands over what it holds: queued batches to its backends, a
# gateway's undecided traces decided and sent to Jaeger. That takes about a second
# when the backends answer; a request to one that hangs is cut by the exporter's
# timeout. compose's stop_grace_period and k8s' terminationGracePeriodSeconds
# give the collectors the same 60 s.
COLLECTOR_STOP_GRACE = 60.0

# The heap each collector process may hold before memory_limiter refuses data
# (``limit_mib`` in config.yaml and gateway.yaml, whose default it repeats). No
# container limit here, so its percentage would be of the whole machine's memory.
MEMORY_LIMIT_VARIABLE = "OTELCOL_MEMORY_LIMIT_MIB"
DEFAULT_MEMORY_LIMIT_MIB = "1024"


# The least limit `stack up` accepts: the smallest the whole config.yaml is measured to work
# at (tests/integration/collector/test_metrics_outage_memory.py: 128 MiB, Prometheus down,
# nothing refused). Below it the collector's own heap is near the soft limit (80 %), and
# memory_limiter would refuse traces and logs under ordinary load.
MIN_MEMORY_LIMIT_MIB = 128
_MAX_UINT32 = 2**32 - 1  # limit_mib's type


def _whole(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` takes '٣٨٤' and '²' too, which the collector cannot read
    (and ``int('²')`` raises)."""
    return text.isascii() and text.isdigit()


def memory_limit_fault(env: Mapping[str, str]) -> str | None:
    """Why ``OTELCOL_MEMORY_LIMIT_MIB`` cannot be used natively, or None (unset or empty: the
    default). Checked before anything starts: the collector, started last, would reject
    ``1g`` with a message that names ``limit_mib`` but not the variable, and would take ``0``
    or ``0.5`` (read as 0) as 80 % of the whole machine, there being no container here."""
    value = env.get(MEMORY_LIMIT_VARIABLE) or ""
    if not value:
        return None
    text = value.strip()
    if _whole(text) and MIN_MEMORY_LIMIT_MIB <= int(text) <= _MAX_UINT32:
        return None
    if _whole(text) and int(text) == 0:
        why = "0 means 80 % of the memory limit of the collector's container, and natively there is none: 80 % of this machine's memory"
    elif _whole(text) and int(text) > _MAX_UINT32:
        why = f"more than the collector's limit_mib can hold ({_MAX_UINT32})"
    elif _whole(text):
        why = (
            f"below {MIN_MEMORY_LIMIT_MIB} MiB, the least the collector's config is measured to work at: "
            "its memory limiter would refuse traces and logs under ordinary load"
        )
    else:
        why = "not a whole number of MiB (the collector reads it as limit_mib, a whole number: no unit, no fraction)"
    return (
        f"{MEMORY_LIMIT_VARIABLE}={value!r}: {why}. Write a whole number of MiB from {MIN_MEMORY_LIMIT_MIB} on, "
        f"e.g. {MEMORY_LIMIT_VARIABLE}=2048 for 2 GiB, or unset it for the default {DEFAULT_MEMORY_LIMIT_MIB}. "
        "Nothing was started"
    )


# The remote-write queue, in requests of at most 256 points (config.yaml): a quarter of the
# memory limit's soft limit, ~0.375 requests per MiB of limit (384 at the default 1024).
METRICS_QUEUE_VARIABLE = "OTELCOL_METRICS_QUEUE_SIZE"
METRICS_QUEUE_PER_MIB = 0.375
MIN_METRICS_QUEUE = 16


def collector_memory_limit(env: Mapping[str, str]) -> dict[str, str]:
    """The collector's memory limit for its environment: the user's value, else the default,
    and the remote-write queue that fits in it.

    Empty counts as unset: the collector would read an empty value as no ``limit_mib`` and
    fall back to a percentage of the machine. Any other value is passed on as it is;
    ``stack up`` refuses one ``memory_limit_fault`` names before starting anything. The queue
    follows a limit in MiB unless the user sized it: with ``OTELCOL_MEMORY_LIMIT_MIB=256``
    config.yaml's 384 requests could fill the limit during a Prometheus outage, and the
    memory limiter would then refuse traces and logs too.
    """
    limit = (env.get(MEMORY_LIMIT_VARIABLE) or DEFAULT_MEMORY_LIMIT_MIB).strip()
    given = {MEMORY_LIMIT_VARIABLE: limit}
    if env.get(METRICS_QUEUE_VARIABLE):
        given[METRICS_QUEUE_VARIABLE] = env[METRICS_QUEUE_VARIABLE].strip()
    elif _whole(limit) and int(limit) > 0:
        given[METRICS_QUEUE_VARIABLE] = str(max(MIN_METRICS_QUEUE, int(int(limit) * METRICS_QUEUE_PER_MIB)))
    return given


def queue_size_fault(env: Mapping[str, str]) -> str | None:
    """Why a queue size the person set cannot be used, or None. Checked before anything starts:
    the collector, started last, would refuse ``1k`` or ``32MiB`` naming ``queue_size`` in its
    own log, not the variable, after the stores had started."""
    for variable, unit, example in (
        (METRICS_QUEUE_VARIABLE, "requests", "384"),
        (GATEWAY_QUEUE_VARIABLE, "bytes", "33554432 for 32 MiB"),
        (JAEGER_QUEUE_VARIABLE, "bytes", "83886080 for 80 MiB"),
    ):
        value = env.get(variable) or ""
        text = value.strip()
        if value and not (_whole(text) and 0 < int(text) <= 2**63 - 1):
            return (
                f"{variable}={value!r}: not a whole number of {unit} above 0 (no unit, no fraction). "
                f"Write e.g. {variable}={example}, or unset it to let `stack up` size it from "
                f"{MEMORY_LIMIT_VARIABLE}. Nothing was started"
            )
    return None


# Each gateway's trace queue in the agent, in bytes (agent.yaml): the N queues full take at
# most a quarter of the soft limit (80 % of the limit), a queued byte costing ~2.5 bytes of
# heap (docs/collector.md, "A gateway outage and the memory limit"): 85 MB for one gateway at
# the default 1024 MiB, 42 MB for two. Never under 20 MiB, what one request to a gateway may
# be: a smaller queue would drop such a request whole with every gateway up. Past 4 gateways
# at 1 GiB that floor breaks the quarter (all of them down at once could then reach the soft
# limit): give the agent more memory with more gateways.
GATEWAY_QUEUE_VARIABLE = "OTELCOL_GATEWAY_QUEUE_BYTES"
MIN_GATEWAY_QUEUE_BYTES = 20 * 2**20


def _quarter_of_the_soft_limit_in_queued_bytes(env: Mapping[str, str]) -> int | None:
    """The queued bytes whose heap (~2.5 bytes a queued byte) is a quarter of the soft limit of
    a collector with this environment's limit (80 % of it); None when the limit is not a whole
    number of MiB above 0 (``stack up`` refuses those before starting anything)."""
    limit = (env.get(MEMORY_LIMIT_VARIABLE) or DEFAULT_MEMORY_LIMIT_MIB).strip()
    if not _whole(limit) or int(limit) <= 0:
        return None
    return int(int(limit) * 2**20 * 0.8 / 4 / 2.5)


def gateway_queue_bytes(env: Mapping[str, str], gateways: int) -> dict[str, str]:
    """The agent's per-gateway queue for ``gateways`` gateways, unless the user sized it."""
    if env.get(GATEWAY_QUEUE_VARIABLE):
        return {GATEWAY_QUEUE_VARIABLE: env[GATEWAY_QUEUE_VARIABLE].strip()}
    quarter = _quarter_of_the_soft_limit_in_queued_bytes(env)
    if quarter is None or gateways <= 0:
        return {}  # agent.yaml's own default (32 MiB)
    return {GATEWAY_QUEUE_VARIABLE: str(max(MIN_GATEWAY_QUEUE_BYTES, quarter // gateways))}


# Each gateway's Jaeger queue, in bytes (gateway.yaml): in memory, so that a stop drains it, and
# by the same rule as the agent's gateway queues: full, it takes at most a quarter of that
# gateway's soft limit at ~2.5 bytes of heap a queued byte (docs/collector.md, "A Jaeger outage
# and the gateway's memory"): 85 MB at the default 1024 MiB, whatever the number of gateways
# (each has its own limit). Never under 20 MiB: a batch larger than the queue is refused whole,
# and gateway.yaml cuts what it sends Jaeger at 20 MiB.
JAEGER_QUEUE_VARIABLE = "OTELCOL_JAEGER_QUEUE_BYTES"
MIN_JAEGER_QUEUE_BYTES = 20 * 2**20


def jaeger_queue_bytes(env: Mapping[str, str]) -> dict[str, str]:
    """A gateway's Jaeger queue for its memory limit, unless the user sized it."""
    if env.get(JAEGER_QUEUE_VARIABLE):
        return {JAEGER_QUEUE_VARIABLE: env[JAEGER_QUEUE_VARIABLE].strip()}
    quarter = _quarter_of_the_soft_limit_in_queued_bytes(env)
    if quarter is None:
        return {}  # gateway.yaml's own default (80 MiB)
    return {JAEGER_QUEUE_VARIABLE: str(max(MIN_JAEGER_QUEUE_BYTES, quarter))}


def gateway_name(index: int) -> str:
    return f"otelcol-gateway-{index}"


def storage_dir(env: Mapping[str, str], variable: str, default: Path) -> Path:
    """A data directory the user named in ``variable`` wins over the stack's own default."""
    given = env.get(variable)
    return Path(given) if given else default


def components(
    config_root: Path,
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    gateways: int = 0,
    logs: str = DEFAULT_LOG_STORE,
) -> list[Component]:
    """The stack in start order: storage backends first, the collector (their client) last.

    ``gateways`` > 0 runs the scale-out topology: N tail-sampling gateways, then
    the collector on 4317/4318 as their agent (config.yaml + agent.yaml).
    ``logs`` is the log store: VictoriaLogs, or Loki (config.yaml + logs-loki.yaml).
    """
    if logs not in LOG_STORES:
        raise ValueError(f"unknown log store {logs!r}; one of {', '.join(LOG_STORES)}")
    env = os.environ if env is None else env
    deploy = config_root / "deploy"
    ui = jaeger_ui_assets(env)
    collector = config_root / "otel-collector"
    otelcol_storage = storage_dir(env, "OTELCOL_STORAGE_DIR", data_dir / "otelcol")
    agent_args: tuple[str, ...] = (f"--config={collector / 'config.yaml'}",)
    if logs == LOKI:
        agent_args += (f"--config={collector / 'logs-loki.yaml'}",)
    agent_env = {"OTELCOL_STORAGE_DIR": str(otelcol_storage), **collector_memory_limit(env)}
    if gateways > 0:
        agent_args += (f"--config={collector / 'agent.yaml'}",)
        endpoints = ",".join(f"127.0.0.1:{GATEWAY_OTLP_GRPC_BASE + i}" for i in range(1, gateways + 1))
        agent_env["OTELCOL_GATEWAY_ENDPOINTS"] = f"[{endpoints}]"
        agent_env.update(gateway_queue_bytes(env, gateways))
        # New per start: a restarted agent writes new span-metric series instead
        # of resetting the old ones (agent.yaml, resource/agent).
        agent_env["OTELCOL_AGENT_INSTANCE"] = f"127.0.0.1:4317/{time.time_ns():x}"
    return [
        log_store(deploy, data_dir, env, logs),
        Component(
            name="prometheus",
            version="2.42.0",
            binary="prometheus",
            path_names=("prometheus",),
            health_url="http://127.0.0.1:9090/-/ready",
            ports=(9090,),
            args=(
                f"--config.file={deploy / 'prometheus' / 'prometheus.yml'}",
                f"--storage.tsdb.path={data_dir / 'prometheus'}",
                "--web.listen-address=127.0.0.1:9090",
                # Alert links (generatorURL) name this address, not the machine's hostname,
                # which a browser on the same machine may not resolve.
                "--web.external-url=http://127.0.0.1:9090/",
                # The collector writes application and span metrics here.
                "--web.enable-remote-write-receiver",
                "--storage.tsdb.retention.time=7d",
            ),
        ),
        Component(
            name="alertmanager",
            version="0.31.1",
            binary="alertmanager",
            # Never from PATH: Debian's prometheus-alertmanager 0.25 serves a placeholder page
            # where the UI would be (its package has no UI); the release and the module build do.
            path_names=(),
            health_url="http://127.0.0.1:9093/-/ready",
            ports=(9093,),
            args=(
                f"--config.file={deploy / 'alertmanager' / 'alertmanager.yml'}",
                f"--storage.path={data_dir / 'alertmanager'}",
                "--web.listen-address=127.0.0.1:9093",
                "--web.external-url=http://127.0.0.1:9093/",  # the externalURL notifications link to
                "--cluster.listen-address=",  # a single instance: no gossip port
            ),
        ),
        Component(
            name="jaeger",
            version="2.12.0",
            binary="jaeger",
            path_names=("jaeger",),
            health_url="http://127.0.0.1:16686/api/services",
            ports=(16686, 14317, 14318),
            args=(f"--config={deploy / 'jaeger' / 'config.yaml'}",),
            env={
                # Traces on disk (Badger), so `stack down` / `up` keeps them.
                "JAEGER_BADGER_DIR": str(storage_dir(env, "JAEGER_BADGER_DIR", data_dir / "jaeger")),
                **({"JAEGER_UI_ASSETS_PATH": str(ui)} if ui else {}),
                # linkPatterns: a trace page links to its log lines in VictoriaLogs' UI.
                # Loki has no UI of its own here, so with Loki the page has no such link.
                **(
                    {"JAEGER_UI_CONFIG": str(deploy / "jaeger" / "ui-config.json")}
                    if logs == VICTORIALOGS
                    else {}
                ),
            },
        ),
        *(_gateway(collector, i, env) for i in range(1, gateways + 1)),
        Component(
            name="otelcol-bundle",
            version="0.159.0",
            binary="otelcol-bundle",
            path_names=("otelcol-bundle",),
            health_url="http://127.0.0.1:13133/",
            ports=(4317, 4318, 13133, 8888),
            args=agent_args,
            env=agent_env,
            alternates=(("otelcol-contrib", "0.159.0"),),
            stop_grace=COLLECTOR_STOP_GRACE,
        ),
    ]


def log_store(deploy: Path, data_dir: Path, env: Mapping[str, str], logs: str) -> Component:
    """The log store the collector sends logs to: VictoriaLogs (default) or Loki."""
    if logs == LOKI:
        return Component(
            name=LOKI,
            version="3.7.6",
            binary="loki",
            path_names=("loki",),
            health_url="http://127.0.0.1:3100/ready",
            ports=(3100, 9096),
            args=(f"-config.file={deploy / 'loki' / 'config.yaml'}", "-config.expand-env=true"),
            env={"LOKI_DATA_DIR": str(storage_dir(env, "LOKI_DATA_DIR", data_dir / "loki"))},
        )
    # No config file: VictoriaLogs takes flags only. Retention and disk are bounded
    # (the oldest days go first); compose and k8s pass the same flags.
    return Component(
        name=VICTORIALOGS,
        version="1.52.2",
        binary="victoria-logs",
        path_names=("victoria-logs", "victoria-logs-prod"),
        health_url="http://127.0.0.1:9428/health",
        ports=(9428,),
        args=(
            "-httpListenAddr=127.0.0.1:9428",
            f"-storageDataPath={storage_dir(env, 'VICTORIALOGS_DATA_DIR', data_dir / 'victorialogs')}",
            f"-retentionPeriod={env.get('VICTORIALOGS_RETENTION') or '7d'}",
            f"-retention.maxDiskSpaceUsageBytes={env.get('VICTORIALOGS_MAX_DISK') or '10GiB'}",
            # Lines are in memory until flushed; a crash (SIGKILL, OOM) loses what was not.
            # Default 5 s, checked every 5 s: lines acknowledged up to ~10 s earlier were lost
            # in tests/e2e/test_backend_restarts_e2e.py. 1 s is its minimum.
            "-inmemoryDataFlushInterval=1s",
        ),
    )


def _gateway(collector: Path, index: int, env: Mapping[str, str]) -> Component:
    """Gateway ``index`` of the scale-out tier: gateway.yaml with its own ports.

    No storage folder: its Jaeger queue is in memory, so that a stop drains it into
    Jaeger instead of leaving it on disk for a start that may never come (gateway.yaml).
    """
    grpc, health, metrics = (
        GATEWAY_OTLP_GRPC_BASE + index,
        GATEWAY_HEALTH_BASE + index,
        GATEWAY_METRICS_BASE + index,
    )
    return Component(
        name=gateway_name(index),
        version="0.159.0",
        binary="otelcol-bundle",
        path_names=("otelcol-bundle",),
        health_url=f"http://127.0.0.1:{health}/",
        ports=(grpc, health, metrics),
        args=(f"--config={collector / 'gateway.yaml'}",),
        env={
            "OTELCOL_OTLP_GRPC_PORT": str(grpc),
            "OTELCOL_HEALTH_PORT": str(health),
            "OTELCOL_METRICS_PORT": str(metrics),
            **collector_memory_limit(env),
            **jaeger_queue_bytes(env),
        },
        alternates=(("otelcol-contrib", "0.159.0"),),
        installs="otelcol-bundle",
        stop_grace=COLLECTOR_STOP_GRACE,
    )


class ConfigRootError(Exception):
    """A config root was named explicitly but does not hold the stack's files."""


def is_config_root(path: Path) -> bool:
    return (path / "otel-collector" / "config.yaml").is_file() and (path / "deploy").is_dir()


def shipped_config_root() -> Path | None:
    """The copy of otel-collector/ and deploy/ inside an installed wheel (pyproject's
    force-include), or None in a checkout or editable install, which use the files in place."""
    shipped = importlib.resources.files("otelbundle.cli.stack") / "shipped"
    return shipped if isinstance(shipped, Path) and is_config_root(shipped) else None


def find_config_root(start: Path | None = None, explicit: str | None = None) -> Path | None:
    """The folder holding otel-collector/ and deploy/, first of: ``explicit`` (--config-root),
    $OTELBUNDLE_CONFIG_ROOT, the current directory or a parent (a checkout), the checkout this
    package sits in (editable install), the copy shipped in the wheel.

    A root named explicitly must hold the files: silently using another would run
    configs the person did not choose.
    """
    for given, origin in (
        (explicit, "--config-root"),
        (os.environ.get("OTELBUNDLE_CONFIG_ROOT"), "OTELBUNDLE_CONFIG_ROOT"),
    ):
        if given:
            if not is_config_root(Path(given)):
                raise ConfigRootError(
                    f"{origin}={given} holds no otel-collector/config.yaml and deploy/; "
                    "`otelbundle stack config --export DIR` writes a copy of the shipped ones to start from"
                )
            return Path(given)
    here = (start or Path.cwd()).resolve()
    for candidate in [here, *here.parents, *Path(__file__).resolve().parents]:
        if is_config_root(candidate):
            return candidate
    return shipped_config_root()


# Short names for `otelbundle stack config NAME`.
CONFIG_FILES = {
    "collector": "otel-collector/config.yaml",
    "collector-agent": "otel-collector/agent.yaml",
    "collector-gateway": "otel-collector/gateway.yaml",
    "collector-builder": "otel-collector/builder-config.yaml",
    "jaeger": "deploy/jaeger/config.yaml",
    "collector-logs-loki": "otel-collector/logs-loki.yaml",
    "jaeger-ui": "deploy/jaeger/ui-config.json",
    "loki": "deploy/loki/config.yaml",
    "prometheus": "deploy/prometheus/prometheus.yml",
    "prometheus-rules-health": "deploy/prometheus/rules/health.yaml",
    "prometheus-rules-system": "deploy/prometheus/rules/system.yaml",
    "prometheus-rules-red": "deploy/prometheus/rules/red.yaml",
    "prometheus-rules-slo": "deploy/prometheus/rules/slo.yaml",
    "alertmanager": "deploy/alertmanager/alertmanager.yml",
    "compose": "deploy/compose.yaml",
}

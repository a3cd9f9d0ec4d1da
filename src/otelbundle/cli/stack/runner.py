"""Start, check and stop the native stack: one data directory, pid and log files per component.

``up`` is idempotent: a component whose recorded process is alive and healthy
is left alone, unless its command line, config files or environment differ from
what this ``up`` would start it with (settings.py): then it is restarted. A port held by some other process is reported by name instead
of starting a second copy that would fail to bind; when that process is the
same component of another otelbundle stack (same binary, same config
contents) it is reused and said so. Nothing here ever stops a process this
stack did not start.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otelbundle.cli.stack.components import (
    JAEGER_UI_VERSION,
    MAX_GATEWAYS,
    Component,
    ConfigRootError,
    components,
    find_config_root,
    gateway_name,
    jaeger_ui_assets,
    memory_limit_fault,
    queue_size_fault,
)
from otelbundle.cli.stack.errors import StackError, StackUsageError
from otelbundle.cli.stack.holders import port_holder
from otelbundle.cli.stack.install.cache import binary_damage
from otelbundle.cli.stack.logstore import DEFAULT_LOG_STORE, LOG_STORES, recorded_store
from otelbundle.cli.stack.owners import may_signal, others_processes, roots_start_in_users_dir
from otelbundle.cli.stack.processes import describe_exit, healthy, launch, port_in_use, reap, terminate
from otelbundle.cli.stack.reuse import (
    foreign_listener,
    held_by,
    ours_unrecorded,
    port_conflict,
    reusable,
    served_by,
)
from otelbundle.cli.stack.settings import changes, read_settings, settings, write_settings
from otelbundle.cli.stack.stack_dir import StackDir, default_data_dir, unwritable, write_fault

__all__ = ["ComponentStatus", "Stack", "StackError"]

# A data folder the person may name instead of the stack dir's, and the component that writes it.
DATA_DIR_VARIABLES = {
    "OTELCOL_STORAGE_DIR": "otelcol-bundle",
    "JAEGER_BADGER_DIR": "jaeger",
    "VICTORIALOGS_DATA_DIR": "victorialogs",
    "LOKI_DATA_DIR": "loki",
}


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    url: str
    log: Path
    # When its URL answers but not from this stack's process: who does (empty otherwise).
    served_by: str = ""
    # Served by the same component of another otelbundle stack, which `up` reuses.
    reused: bool = False

    @property
    def ok(self) -> bool:
        """Healthy, and this stack's own process or one it reuses."""
        return self.healthy and (self.running or self.reused)


class Stack:
    """The native stack under ``data_dir``; ``say`` receives progress lines.

    ``gateways``: None keeps the topology the last ``up`` recorded (none: the
    single collector); 0 is the single collector; N > 0 is the scale-out
    topology, the collector on 4317/4318 as agent in front of N gateways.
    ``logs``: the log store, VictoriaLogs or Loki; None keeps the recorded one
    (none recorded: VictoriaLogs).
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        config_root: Path | None = None,
        env: Mapping[str, str] | None = None,
        say: Callable[[str], None] = print,
        gateways: int | None = None,
        logs: str | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        # Absolute: each component runs in the data dir and gets paths under it.
        self.data_dir = (data_dir or default_data_dir(self.env)).absolute()
        self.dir = StackDir(self.data_dir)
        try:
            root = config_root or find_config_root()
        except ConfigRootError as exc:
            raise StackError(str(exc)) from None
        if root is None:
            raise StackError(
                "cannot find otel-collector/config.yaml and deploy/ (not in a checkout, and this installation "
                "ships no copy): pass --config-root DIR or set OTELBUNDLE_CONFIG_ROOT"
            )
        self.config_root = root
        self.say = say
        if gateways is not None and not 0 <= gateways <= MAX_GATEWAYS:
            raise StackUsageError(f"--gateways must be from 0 to {MAX_GATEWAYS}, not {gateways}")
        if logs is not None and logs not in LOG_STORES:
            raise StackError(f"--logs must be one of {', '.join(LOG_STORES)}, not {logs!r}")
        self.recorded_gateways = self.dir.recorded_gateways()
        self.gateways = self.recorded_gateways if gateways is None else gateways
        self.recorded_logs = recorded_store(self.data_dir) or DEFAULT_LOG_STORE
        self.logs = self.recorded_logs if logs is None else logs
        self.components = components(root, self.data_dir, self.env, gateways=self.gateways, logs=self.logs)
        # This run's starts: (component, pid), each log's size before it, exit statuses collected.
        self._launched: list[tuple[str, int]] = []
        self._log_starts: dict[str, int] = {}
        self._exit_codes: dict[int, int] = {}

    # ---- topology ------------------------------------------------------------
    def _stray_gateways(self) -> list[Component]:
        """Components with a pid file that the chosen topology does not include: gateways after
        scaling in, the other log store after switching stores."""
        wanted = {c.name for c in self.components}
        found: list[Component] = []
        for store in LOG_STORES:
            if store not in wanted and self.dir.pid_file(store).exists():
                other = components(self.config_root, self.data_dir, self.env, logs=store)
                found.extend(c for c in other if c.name == store)
        for pid_file in sorted(self.dir.run.glob("otelcol-gateway-*.pid")):
            name = pid_file.stem
            if name not in wanted:
                index = int(name.rsplit("-", 1)[1]) if name.rsplit("-", 1)[1].isdigit() else 0
                spare = components(self.config_root, self.data_dir, self.env, gateways=max(index, 1))
                found.extend(c for c in spare if c.name == gateway_name(index))
        return found

    # ---- files -----------------------------------------------------------
    def log_file(self, component: Component) -> Path:
        return self.dir.log_file(component.name)

    def tail(self, component: Component, lines: int = 20) -> str:
        return self.dir.tail(component.name, lines)

    def _pid(self, component: Component) -> int | None:
        return self.dir.live_pid(component.name)

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        raise StackError(f"no component named {name!r}; known: {', '.join(c.name for c in self.components)}")

    # ---- operations --------------------------------------------------------
    def missing_binaries(self) -> list[Component]:
        return [c for c in self.components if c.locate(self.env) is None]

    def preflight(self) -> None:
        """What ``up`` checks before it installs or starts anything: a value the person set that
        no component could use (StackUsageError), a binary or data folder a variable names
        that cannot be used (StackError)."""
        fault = memory_limit_fault(self.env) or queue_size_fault(self.env)
        if fault:
            raise StackUsageError(fault)
        for component in {c.env_var: c for c in self.components}.values():
            explicit = self.env.get(component.env_var)
            if explicit and not os.access(explicit, os.X_OK):
                # Named, not "not installed yet": installing would not make the variable's file run.
                raise StackError(
                    f"{component.env_var}={explicit} is not an executable file, so {component.name} cannot be "
                    f"started from it. Point it at the {component.install_name} binary, or unset it to use the "
                    f"one `otelbundle stack install {component.install_name}` obtains. Nothing was started"
                )
        names = {c.name for c in self.components}
        for variable, name in DATA_DIR_VARIABLES.items():
            given = self.env.get(variable)
            if given and name in names and (cause := unwritable(Path(given))):
                raise StackError(
                    f"{variable}={given}: {name} keeps its data there, and it cannot be written ({cause}). "
                    f"Make it writable, or set {variable} to a folder you can write (unset, {name} keeps "
                    "its data in the stack dir). Nothing was started"
                )

    def up(self, timeout: float = 90.0) -> None:
        """Start what is not running. On a failure the message also names what this ``up``
        started and left running (the components before the one that failed)."""
        self._launched = []
        self.preflight()
        refused = roots_start_in_users_dir(self.data_dir)
        if refused:
            raise StackError(refused)
        try:
            with self.dir.exclusive(self.say):
                try:
                    self._up(timeout)
                except OSError as exc:
                    raise write_fault(exc, self.data_dir) from None
        except StackError as exc:
            running = [(name, pid) for name, pid in self._launched if self.dir.live_pid(name) == pid]
            if not running:
                raise
            listed = ", ".join(f"{name} (pid {pid})" for name, pid in running)
            raise StackError(
                f"{exc}\nStarted by this `up` and still running: {listed}. `otelbundle stack down` stops "
                "them; `otelbundle stack up` again starts the rest once the cause is fixed"
            ) from None

    def _up(self, timeout: float) -> None:
        missing = self.missing_binaries()
        if missing:
            names = ", ".join(f"{c.name} {c.version}" for c in missing)
            raise StackError(
                f"not found: {names}. Obtain them once with `otelbundle stack install` (Go builds or release "
                "downloads into ~/.cache/otelbundle; in a checkout `make stack` runs it), or point "
                + ", ".join(c.env_var for c in missing)
                + " at existing binaries."
            )
        for sub in ("run", "logs"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self._warn_if_no_jaeger_ui()
        # Recorded before the first start: an `up` cut short (Ctrl-C, a timeout) after a gateway
        # started must leave `status`, `down` and the next plain `up` knowing about it.
        self.dir.record_topology(self.gateways, self.logs)
        rescaled = self.gateways != self.recorded_gateways
        switched = self.logs != self.recorded_logs
        changed = {"otelcol-bundle"} if rescaled else set()
        if switched:
            # The collector's exporter and Jaeger's trace-to-logs link depend on the store.
            changed |= {"otelcol-bundle", "jaeger"}
        started: list[Component] = []
        for component in self.components:
            pid = self._pid(component)
            if pid is not None and component.name in changed:
                # Its gateway list, its role or its log store is fixed at start: restart it.
                # The gateways it needs were started above; it drains its
                # queues into the old ones on the way down.
                why = (
                    f"{self.recorded_gateways} -> {self.gateways} gateways"
                    if rescaled and component.name == "otelcol-bundle"
                    else f"logs to {self.logs} instead of {self.recorded_logs}"
                )
                self.say(f"  {component.name:<17} restarting: {why}")
                self.stop_component(component)
                self._start(component)
                self._wait_healthy([component], timeout)
                continue
            settings_changed = self._settings_changed(component) if pid is not None else []
            if settings_changed:
                # Read once at start: a running process keeps the old ones (`docker compose up`
                # likewise recreates a changed service).
                self.say(
                    f"  {component.name:<17} settings changed ({'; '.join(settings_changed)}), restarting"
                )
                self.stop_component(component)
                self._start(component)
                self._wait_healthy([component], timeout)
                continue
            if pid is not None:
                if healthy(component.health_url):
                    self.say(f"  {component.name:<17} already running and healthy")
                    continue
                # Still starting (or hung): a second copy could not bind its ports and would
                # take over the pid file, leaving this one running where `down` cannot see it.
                self.say(
                    f"  {component.name:<17} already running (pid {pid}), not healthy yet: waiting for it"
                )
                self._await(component, started, timeout)
                continue
            busy = [port for port in component.ports if port_in_use(port)]
            if busy and self._pid(component) is None:
                holder = port_holder(busy[0])
                if reusable(component, holder, self.env):
                    assert holder is not None
                    self.say(
                        f"  {component.name:<17} reusing the one of the otelbundle stack in {holder.stack_dir()} "
                        f"(pid {holder.pid}; same binary and config). `stack down` here leaves it running."
                    )
                    continue
                if holder is not None and ours_unrecorded(component, holder, self.data_dir, self.env):
                    # Left running without its pid file (an older otelbundle's failed start, a
                    # deleted run/ folder): record it again rather than call it a stranger.
                    self.dir.record_pid(component.name, holder.pid)
                    # What it was started with is not known: a stale record must not pass for it.
                    self.dir.settings_file(component.name).unlink(missing_ok=True)
                    self.say(
                        f"  {component.name:<17} found running (pid {holder.pid}), started in this stack dir "
                        "but missing from its pid file: recorded again"
                    )
                    self._await(component, started, timeout)
                    continue
                raise StackError(port_conflict(component, busy, holder))
            self._start(component)
            self._await(component, started, timeout)
        self._wait_healthy(started, timeout)
        for stray in self._stray_gateways():
            self.stop_component(stray)
        self.dir.record_topology(self.gateways, self.logs)

    def _settings(self, component: Component) -> dict[str, Any]:
        binary = component.locate(self.env)
        assert binary is not None
        return settings(component, binary, self.env, self.config_root, self.dir.settings_key())

    def _settings_changed(self, component: Component) -> list[str]:
        """What differs from the settings its running process was started with; empty when the
        same, or when none were recorded (an older otelbundle started it, or it was found
        running without its pid file): then nothing says it differs."""
        recorded = read_settings(self.dir.settings_file(component.name))
        return [] if recorded is None else changes(recorded, self._settings(component))

    def _await(self, component: Component, pending: list[Component], timeout: float) -> None:
        """Wait for a collector now (the agent's gateways must be accepting before it routes to
        them); the stores are waited for together at the end."""
        if component.name.startswith("otelcol-gateway-") or component.name == "otelcol-bundle":
            self._wait_healthy([component], timeout)
        else:
            pending.append(component)

    def _warn_if_no_jaeger_ui(self) -> None:
        if jaeger_ui_assets(self.env) is not None or all(c.name != "jaeger" for c in self.components):
            return
        for line in (
            f"!! The Jaeger UI {JAEGER_UI_VERSION} is not installed: Jaeger will serve its API and a placeholder",
            "!! page instead of the UI. `otelbundle stack install` downloads it (jaeger-ui release asset",
            "!! assets.tar.gz); offline, run it with OTELBUNDLE_JAEGER_UI_ASSETS=/path/to/assets.tar.gz.",
        ):
            self.say(line)

    def _start(self, component: Component) -> None:
        binary = component.locate(self.env)
        assert binary is not None
        damage = binary_damage(Path(binary))
        if damage is not None:
            raise StackError(
                f"{component.name}: {binary} is damaged ({damage}; a copy cut short, a full disk): not "
                f"started. `otelbundle stack install {component.install_name}` obtains it again"
            )
        for key, value in component.env.items():
            if key in ("OTELCOL_STORAGE_DIR", "LOKI_DATA_DIR", "JAEGER_BADGER_DIR"):
                Path(value).mkdir(parents=True, exist_ok=True)
        log = self.log_file(component)
        self._log_starts[component.name] = log.stat().st_size if log.exists() else 0
        try:
            pid = launch([binary, *component.args], {**self.env, **component.env}, self.data_dir, log)
        except OSError as exc:
            if exc.filename is not None and Path(exc.filename) == log:
                raise
            raise StackError(
                f"{component.name}: cannot run {binary}: {exc.strerror or exc}. If it is in the cache, "
                f"`otelbundle stack install {component.install_name}` obtains it again"
            ) from None
        try:
            self.dir.record_pid(component.name, pid)
            write_settings(self.dir.settings_file(component.name), self._settings(component))
        except OSError:
            # Without its pid file no later `down` could find it: stop it now, not leave an orphan.
            with contextlib.suppress(OSError):
                terminate(pid, component.stop_grace, lambda: not self._gone(pid))
            raise
        self._launched.append((component.name, pid))
        self.say(f"  {component.name:<17} started (pid {pid}, {binary})")

    def _gone(self, pid: int) -> bool:
        """Whether our own child ``pid`` has exited (collecting it, and keeping its exit status)."""
        code = reap(pid)
        if code is not None:
            self._exit_codes[pid] = code
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _wait_healthy(self, started: list[Component], timeout: float) -> None:
        end = time.monotonic() + timeout
        pending = list(started)
        while pending and time.monotonic() < end:
            for component in list(pending):
                if self.exited(component):
                    raise StackError(self._exited_message(component))
                if self._answers_health(component):
                    self.say(f"  {component.name:<17} healthy at {component.health_url}")
                    pending.remove(component)
            time.sleep(0.5)
        if pending:
            names = ", ".join(c.name for c in pending)
            details = "\n".join(f"--- {c.name} ({c.health_url}):\n{self.tail(c)}" for c in pending)
            raise StackError(
                f"not healthy after {timeout:.0f}s: {names}\n{details}\n"
                f"{names} still running: `otelbundle stack up` again waits for it (--timeout SECONDS), "
                "`otelbundle stack down` stops it"
            )

    def _answers_health(self, component: Component) -> bool:
        """Healthy, and answered by the process we started (or one it started): a health port
        can also be answered by another stack or a leftover, which must not pass for ours.
        When /proc does not show the holder, the answer is taken as ours."""
        pid = self._pid(component)
        if pid is None or not healthy(component.health_url):
            return False
        return foreign_listener(component, pid) is None

    def exited(self, component: Component) -> bool:
        """True when the component's process is gone (our own exited child is collected first:
        a zombie still answers kill(pid, 0))."""
        launched = [pid for name, pid in self._launched if name == component.name]
        for pid in {*launched[-1:], self._pid(component)} - {None}:
            assert pid is not None
            code = reap(pid)
            if code is not None:
                self._exit_codes[pid] = code
        return self._pid(component) is None

    def _exited_message(self, component: Component) -> str:
        """How it ended (exit status or signal) and what it wrote since this start: the log
        also holds earlier runs, whose lines would pass for this failure's cause."""
        pid = next((p for name, p in reversed(self._launched) if name == component.name), None)
        code = self._exit_codes.get(pid) if pid is not None else None
        how = "" if code is None else f" ({describe_exit(code)})"
        since = self._log_starts.get(component.name, 0)
        lines = self.dir.tail(component.name, 20, since=since)
        shown = lines if lines.strip() else f"(it wrote nothing to {self.log_file(component)})"
        return f"{component.name} exited during start-up{how}:\n{shown}"

    def down(self, timeout: float | None = None) -> None:
        """Stop everything, one at a time, in reverse start order: the agent (or single
        collector) first, which hands its queued spans to the gateways still running; then
        the gateways, which decide what they hold and send it to Jaeger still running;
        then the stores. Each stop waits until the process has exited."""
        if not self.dir.run.is_dir():
            # Nothing was ever started here: create nothing either (root's `down` in a user's fresh
            # stack dir left a root-owned run/ that locked the owner's next `up` out).
            self.say(f"  nothing to stop: no component of the stack in {self.data_dir} was running")
            return
        theirs = [(c.name, pid) for c in self._stop_order() if (pid := self._pid(c)) and not may_signal(pid)]
        if theirs:
            # All or nothing: stopping the collectors but not the stores they send to helps no one.
            raise StackError(others_processes(theirs, self.data_dir, "down", nothing_stopped=True))
        with self.dir.exclusive(self.say):
            try:
                self._down(timeout)
            except OSError as exc:
                raise write_fault(exc, self.data_dir) from None

    def _down(self, timeout: float | None) -> None:
        stopped = 0
        for component in self._stop_order():
            pid = self._pid(component)
            if pid is None:
                self.dir.forget_pid(component.name)
                continue
            self.stop_component(component, timeout)
            stopped += 1
        # The next `up` without --gateways starts the default single collector.
        self.dir.forget_topology()
        if not stopped:
            self.say(f"  nothing to stop: no component of the stack in {self.data_dir} was running")

    def _stop_order(self) -> list[Component]:
        """Collectors before the stores they send to; gateways left over from another
        topology with the gateways."""
        ordered = [*reversed(self.components), *self._stray_gateways()]
        collectors = [c for c in ordered if c.name.startswith("otelcol")]
        return collectors + [c for c in ordered if c not in collectors]

    def stop_component(self, component: Component, timeout: float | None = None) -> None:
        """SIGTERM, then wait for the exit (``timeout``, by default the component's
        stop_grace) before SIGKILL."""
        timeout = component.stop_grace if timeout is None else timeout
        pid = self._pid(component)
        if pid is None:
            return
        try:
            stopped = terminate(pid, timeout, lambda: self._pid(component) is not None)
        except PermissionError:
            message = others_processes([(component.name, pid)], self.data_dir, "down", nothing_stopped=False)
            raise StackError(message) from None
        if stopped:
            self.say(f"  {component.name:<17} stopped")
        else:
            self.say(f"  {component.name:<17} did not stop in {timeout:.0f}s; killed")
        self.dir.forget_pid(component.name)

    def start_component(self, component: Component, timeout: float = 60.0) -> None:
        (self.data_dir / "run").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._start(component)
        self._wait_healthy([component], timeout)

    def status(self) -> list[ComponentStatus]:
        states = []
        for c in self.components:
            pid = self._pid(c)
            state = ComponentStatus(
                c.name, pid, pid is not None, healthy(c.health_url), c.health_url, self.log_file(c)
            )
            if state.healthy and pid is None:
                state.served_by, state.reused = served_by(c, self.data_dir, self.env)
            elif pid is not None and (holder := foreign_listener(c, pid)) is not None:
                # Our process is alive, but another one answers its URL (it lost the port to
                # another stack or a leftover): that answer says nothing about ours.
                state.healthy = False
                state.served_by = held_by(c, pid, holder)
            states.append(state)
        return states

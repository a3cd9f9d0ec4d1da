"""``otelbundle stack up|down|status|logs|install|config``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from otelbundle.cli.arguments import line_count
from otelbundle.cli.stack import components as comp
from otelbundle.cli.stack.components import CONFIG_FILES, ConfigRootError, find_config_root, jaeger_ui_assets
from otelbundle.cli.stack.errors import StackUsageError
from otelbundle.cli.stack.install import SOURCES, Installer, InstallError
from otelbundle.cli.stack.logstore import LOG_STORES, LOKI, LOKI_URL, VICTORIALOGS_URL
from otelbundle.cli.stack.runner import Stack, StackError


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # --config-root is accepted before or after the action; SUPPRESS keeps the
    # action's parser from overwriting a value given before it.
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--config-root",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="folder holding otel-collector/ and deploy/ (default: $OTELBUNDLE_CONFIG_ROOT, the checkout "
        "you are in, else the copy shipped in the package)",
    )
    parser = subparsers.add_parser(
        "stack",
        parents=[root],
        help="run the collector, Jaeger, Prometheus, VictoriaLogs (or Loki) and Alertmanager natively",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up",
        parents=[root],
        help="start every component on loopback and wait until healthy (no-op if up); installs what is missing",
    )
    up.add_argument(
        "--timeout", type=_seconds, default=120.0, help="seconds to wait for each to be healthy (default 120)"
    )
    up.add_argument("--no-install", action="store_true", help="fail instead of installing missing binaries")
    up.add_argument(
        "--gateways",
        type=_gateway_count,
        metavar="N",
        default=None,
        help="scale-out: the collector on 4317/4318 becomes an agent load-balancing traces (by trace id) to N "
        "tail-sampling gateways on loopback ports 4321.. (0: the single collector; at most "
        f"{comp.MAX_GATEWAYS}; default: what the last "
        "`up` ran, else 0). Changing N on a running stack restarts the agent only",
    )
    up.add_argument(
        "--logs",
        choices=LOG_STORES,
        default=None,
        help="the log store: victorialogs (built or downloaded by `stack install`), or loki (a binary you bring: "
        "OTELBUNDLE_LOKI_BIN, `loki` on PATH, or its official release; never built here). Default: what the "
        "last `up` ran, else victorialogs. Switching on a running stack restarts the collector and Jaeger",
    )
    up.set_defaults(func=_up)
    actions.add_parser("down", parents=[root], help="stop every component").set_defaults(func=_down)
    actions.add_parser(
        "status", parents=[root], help="show each component's process and health"
    ).set_defaults(func=_status)
    logs = actions.add_parser("logs", parents=[root], help="print the end of a component's log")
    logs.add_argument("component", nargs="?", help="name, as `stack status` lists them (default: all)")
    logs.add_argument(
        "-n", "--lines", type=line_count, default=30, help="how many of the last lines of each (default 30)"
    )
    logs.set_defaults(func=_logs)
    install = actions.add_parser(
        "install",
        parents=[root],
        help="obtain every backend binary and the Jaeger UI into ~/.cache/otelbundle (download, else build); "
        "Loki only when named (`stack install loki`: its release; never built)",
    )
    install.add_argument("components", nargs="*", metavar="COMPONENT", help="only these (default: all)")
    install.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="auto: the official release, and a Go build where it cannot be had (default); "
        "build: never download the Go-built ones; download: never build",
    )
    install.set_defaults(func=_install)
    config = actions.add_parser(
        "config", parents=[root], help="print a config file the stack uses, to start your own from"
    )
    config.add_argument("name", nargs="?", help="a short name from --list, or a path inside the config root")
    config.add_argument("--list", action="store_true", help="list the files and their short names")
    config.add_argument(
        "--export", metavar="DIR", help="copy otel-collector/ and deploy/ into DIR (then: --config-root DIR)"
    )
    config.set_defaults(func=_config)


def _gateway_count(text: str) -> int:
    """0 to MAX_GATEWAYS (components.py says why the bound)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= comp.MAX_GATEWAYS:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number from 0 to {comp.MAX_GATEWAYS}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _root(args: argparse.Namespace, command: str) -> Path:
    try:
        root = find_config_root(explicit=getattr(args, "config_root", None))
    except ConfigRootError as exc:
        raise SystemExit(f"otelbundle stack {command}: {exc}") from None
    if root is None:
        raise SystemExit(
            f"otelbundle stack {command}: cannot find otel-collector/config.yaml and deploy/ (not in a checkout, "
            "and this installation ships no copy); pass --config-root DIR or set OTELBUNDLE_CONFIG_ROOT"
        )
    return root


def _up(args: argparse.Namespace) -> int:
    root = _root(args, "up")
    try:
        stack = Stack(config_root=root, gateways=args.gateways, logs=args.logs)
        print(f"otelbundle stack: data in {stack.data_dir}, configs from {root}")
        print(f"otelbundle stack: logs go to {'Loki' if stack.logs == LOKI else 'VictoriaLogs'}")
        if stack.gateways:
            print(
                f"otelbundle stack: scale-out, an agent on 4317/4318 in front of {stack.gateways} gateway(s)"
            )
        stack.preflight()
        missing = stack.missing_binaries()
        if missing and not args.no_install:
            names = ", ".join(f"{c.name} {c.version}" for c in missing)
            print(
                f"otelbundle stack: not installed yet: {names} (not in {comp.CACHE_ROOT / 'bin'}, no "
                "OTELBUNDLE_<NAME>_BIN, not on PATH); installing first, as `otelbundle stack install` would"
            )
            Installer(root).run(list(dict.fromkeys(c.install_name for c in missing)))
        stack.up(timeout=args.timeout)
    except StackUsageError as exc:
        print(f"otelbundle stack up: {exc}", file=sys.stderr)
        return 2
    except (StackError, InstallError) as exc:
        print(f"otelbundle stack up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "otelbundle stack up: interrupted; nothing half-written was kept in the cache. Components already "
            "started keep running: `otelbundle stack status` shows them, `otelbundle stack up` finishes the "
            "start, `otelbundle stack down` stops them",
            file=sys.stderr,
        )
        return 130
    logs = f"Loki {LOKI_URL}" if stack.logs == LOKI else f"VictoriaLogs {VICTORIALOGS_URL}/select/vmui/"
    print(f"Jaeger http://127.0.0.1:16686  Prometheus http://127.0.0.1:9090  {logs}")
    print(
        "Alertmanager http://127.0.0.1:9093  OTLP to the collector: 127.0.0.1:4317 (gRPC), http://127.0.0.1:4318"
    )
    return 0


def _install(args: argparse.Namespace) -> int:
    root = _root(args, "install")
    print(f"otelbundle stack install: into {comp.CACHE_ROOT} (configs from {root})")
    try:
        Installer(root, source=args.source).run(args.components)
    except InstallError as exc:
        print(f"otelbundle stack install: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "otelbundle stack install: interrupted; nothing half-written was kept in the cache. Run it again.",
            file=sys.stderr,
        )
        return 130
    return 0


def _config(args: argparse.Namespace) -> int:
    root = _root(args, "config")
    if args.export:
        return _export(root, Path(args.export))
    if args.list or not args.name:
        named = {path: name for name, path in CONFIG_FILES.items()}
        print(f"# config root: {root}")
        for path in sorted(p.relative_to(root).as_posix() for p in _files(root)):
            print(f"{named.get(path, ''):<26} {path}")
        return 0
    relative = CONFIG_FILES.get(args.name, args.name)
    path = (root / relative).resolve()
    if not path.is_file() or root.resolve() not in path.parents:
        print(
            f"otelbundle stack config: no file {args.name!r} in {root}; `otelbundle stack config --list` lists them",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(path.read_text())
    return 0


def _files(root: Path) -> list[Path]:
    return [
        p
        for top in ("otel-collector", "deploy")
        for p in (root / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]


def _export(root: Path, dest: Path) -> int:
    clashes = [dest / top for top in ("otel-collector", "deploy") if (dest / top).exists()]
    if clashes:
        print(
            f"otelbundle stack config: {', '.join(map(str, clashes))} already exist; not overwriting",
            file=sys.stderr,
        )
        return 1
    for top in ("otel-collector", "deploy"):
        shutil.copytree(root / top, dest / top, ignore=shutil.ignore_patterns("__pycache__"))
    print(f"copied otel-collector/ and deploy/ from {root} into {dest}")
    print(f"edit them, then: otelbundle stack up --config-root {dest}")
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        Stack(config_root=_root(args, "down")).down()
    except StackError as exc:
        print(f"otelbundle stack down: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "otelbundle stack down: interrupted; what was not stopped yet still runs "
            "(`otelbundle stack status`); run `otelbundle stack down` again to stop it",
            file=sys.stderr,
        )
        return 130
    return 0


def _status(args: argparse.Namespace) -> int:
    try:
        stack = Stack(config_root=_root(args, "status"))
        states = stack.status()
    except StackError as exc:
        print(f"otelbundle stack status: {exc}", file=sys.stderr)
        return 1
    if stack.gateways:
        print(f"scale-out: otelcol-bundle is the agent (4317/4318) of {stack.gateways} gateway(s)")
    print(f"log store: {stack.logs}")
    for state in states:
        process = f"pid {state.pid}" if state.running else "not running"
        health = "healthy" if state.healthy else "not healthy"
        served = f"  ({state.served_by})" if state.served_by else ""
        print(f"{state.name:<17} {process:<14} {health:<12} {state.url}{served}")
    ui = jaeger_ui_assets(os.environ)
    shown = str(ui) if ui else "NOT INSTALLED: Jaeger serves a placeholder page (otelbundle stack install)"
    print(f"{'jaeger UI':<17} {shown}")
    failing = [s.name for s in states if not s.ok]
    if failing:
        # What to do next: its own log says why it stopped or is unhealthy; `up` starts what is down.
        print(
            f"why: otelbundle stack logs {failing[0]}"
            + (f" (and {', '.join(failing[1:])})" if len(failing) > 1 else "")
            + "; start what is down: otelbundle stack up"
        )
    return 0 if not failing else 3


def _logs(args: argparse.Namespace) -> int:
    try:
        stack = Stack(config_root=_root(args, "logs"))
        chosen = [stack.component(args.component)] if args.component else stack.components
    except StackError as exc:
        print(f"otelbundle stack logs: {exc}", file=sys.stderr)
        return 1
    for component in chosen:
        print(f"--- {component.name} ({stack.log_file(component)})")
        print(stack.tail(component, args.lines))
    return 0

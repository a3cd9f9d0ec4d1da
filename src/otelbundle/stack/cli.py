"""``otelbundle stack up|down|status|logs``."""

from __future__ import annotations

import argparse
import os
import sys

from otelbundle.stack.components import jaeger_ui_assets
from otelbundle.stack.runner import Stack, StackError


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "stack", help="run the collector, Jaeger, Prometheus, Loki and Alertmanager natively"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up", help="start every component on loopback and wait until healthy (no-op if up)"
    )
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for health (default 120)")
    up.set_defaults(func=_up)
    actions.add_parser("down", help="stop every component").set_defaults(func=_down)
    actions.add_parser("status", help="show each component's process and health").set_defaults(func=_status)
    logs = actions.add_parser("logs", help="print the end of a component's log")
    logs.add_argument("component", nargs="?", help="name (default: all)")
    logs.add_argument("-n", "--lines", type=int, default=30)
    logs.set_defaults(func=_logs)


def _up(args: argparse.Namespace) -> int:
    try:
        stack = Stack()
        print(f"otelbundle stack: data in {stack.data_dir}")
        stack.up(timeout=args.timeout)
    except StackError as exc:
        print(f"otelbundle stack up: {exc}", file=sys.stderr)
        return 1
    print("Jaeger http://127.0.0.1:16686  Prometheus http://127.0.0.1:9090  Loki http://127.0.0.1:3100")
    print(
        "Alertmanager http://127.0.0.1:9093  OTLP to the collector: 127.0.0.1:4317 (gRPC), http://127.0.0.1:4318"
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        Stack().down()
    except StackError as exc:
        print(f"otelbundle stack down: {exc}", file=sys.stderr)
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    try:
        states = Stack().status()
    except StackError as exc:
        print(f"otelbundle stack status: {exc}", file=sys.stderr)
        return 1
    for state in states:
        process = f"pid {state.pid}" if state.running else "not running"
        health = "healthy" if state.healthy else "not healthy"
        print(f"{state.name:<15} {process:<14} {health:<12} {state.url}")
    ui = jaeger_ui_assets(os.environ)
    print(
        f"{'jaeger UI':<15} {str(ui) if ui else 'NOT INSTALLED: Jaeger serves a placeholder page (make stack)'}"
    )
    return 0 if all(s.healthy for s in states) else 3


def _logs(args: argparse.Namespace) -> int:
    try:
        stack = Stack()
        chosen = [stack.component(args.component)] if args.component else stack.components
    except StackError as exc:
        print(f"otelbundle stack logs: {exc}", file=sys.stderr)
        return 1
    for component in chosen:
        print(f"--- {component.name} ({stack.log_file(component)})")
        print(stack.tail(component, args.lines))
    return 0

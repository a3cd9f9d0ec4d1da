"""The ``otelbundle`` command. Subsystems plug in their own subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from otelbundle.version import __version__

# Modules that provide ``add_commands(subparsers)``; missing ones are skipped so a
# partial install still has a working command.
COMMAND_MODULES = (
    "otelbundle.cli.config",
    "otelbundle.cli.rules",
    "otelbundle.cli.slo",
    "otelbundle.cli.health",
    "otelbundle.cli.stack.cli",
    "otelbundle.cli.demo",
    "otelbundle.cli.logs",
)


# What `otelbundle --help` says (the module docstring above is for developers).
DESCRIPTION = (
    "Check a service's otelbundle.yaml, its alert rules, SLOs and health checks; run the "
    "backends it sends to on this machine; read the logs they store. "
    "Your application itself runs under `opentelemetry-instrument`. "
    "`otelbundle COMMAND --help` tells more about each command."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otelbundle", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"otelbundle {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        add_commands = getattr(module, "add_commands", None)
        if add_commands is not None:
            add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``otelbundle`` command. Subsystems plug in their own subcommands."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from otelbundle.version import __version__

# Each command and the module that adds it (``add_commands(subparsers)``).
COMMAND_MODULES = {
    "config": "otelbundle.cli.config",
    "rules": "otelbundle.cli.rules",
    "slo": "otelbundle.cli.slo",
    "health": "otelbundle.cli.health",
    "stack": "otelbundle.cli.stack.cli",
    "demo": "otelbundle.cli.demo",
    "logs": "otelbundle.cli.logs",
}


# What `otelbundle --help` says (the module docstring above is for developers).
DESCRIPTION = (
    "Check a service's otelbundle.yaml, its alert rules, SLOs and health checks; run the "
    "backends it sends to on this machine; read the logs they store. "
    "Your application itself runs under `opentelemetry-instrument`. "
    "`otelbundle COMMAND --help` tells more about each command. A command whose reader stops early "
    "(`| head`) stops quietly with exit status 141, as a program killed by SIGPIPE."
)

# The exit status of a command whose reader went away (`| head`): what a shell shows for a
# program killed by SIGPIPE, as 130 is for one stopped by Ctrl-C. Not 0, since the output was
# cut short (`rules check` had files left to check); not 1, which means "a problem found".
READER_GONE = 128 + signal.SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otelbundle", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"otelbundle {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, name in COMMAND_MODULES.items():
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # one broken command must not take the others with it
            _add_unloadable(subparsers, command, name, exc)
            continue
        module.add_commands(subparsers)
    return parser


def _add_unloadable(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    command: str,
    module: str,
    error: Exception,
) -> None:
    """A command whose module failed to import stays listed and says why when run: skipping it
    silently (as before) made ``stack`` vanish from ``--help`` for a user who could not read a
    file it imports, with nothing to say what was wrong."""
    reason = f"{type(error).__name__}: {error}"
    # No options: whatever was typed after the command (its --flags too) is taken, and refused here.
    parser = subparsers.add_parser(
        command, help=f"(cannot be loaded: {reason})", add_help=False, prefix_chars="\0"
    )
    parser.add_argument("typed", nargs="*")

    def report(_args: argparse.Namespace) -> int:
        print(f"otelbundle {command}: cannot be loaded ({module}): {reason}", file=sys.stderr)
        return 1

    parser.set_defaults(func=report)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that stops early (``| head``) ends it quietly, with READER_GONE,
    and Ctrl-C with 130, as a shell shows a program stopped by SIGINT."""
    try:
        code = _run(argv)
    except KeyboardInterrupt:
        # Ctrl-C while the commands' modules load (before a command's own handler runs): a
        # traceback through importlib told a person nothing they did not know.
        _flush()
        return 130
    except SystemExit:
        _flush()  # --help, --version: argparse ignores a reader gone, and so does this flush
        raise
    except BrokenPipeError:
        _flush()
        return READER_GONE
    # Flushed here, not at Python's exit, where a reader gone is "Exception ignored" and exit 120.
    return code if _flush() else READER_GONE


def _flush() -> bool:
    """Flush stdout and stderr; a stream whose reader is gone is pointed at devnull (as Python's docs
    on SIGPIPE advise), so no later write, nor the flush at exit, fails again. False if one was."""
    flushed = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
            flushed = False
    return flushed


def _run(argv: Sequence[str] | None) -> int:
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

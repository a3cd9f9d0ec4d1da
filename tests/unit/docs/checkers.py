"""The real checkers a doc example goes through: the ``otelbundle`` CLI, in this process.

Each check returns an :class:`Outcome` (exit status and what the command printed),
exactly what a reader running the same command would see.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from otelbundle import cli

OTELBUNDLE = Path(sys.executable).parent / "otelbundle"


@dataclass(frozen=True)
class Outcome:
    command: str
    status: int
    output: str

    @property
    def ok(self) -> bool:
        return self.status == 0


@contextlib.contextmanager
def _environment(cwd: Path, env: Mapping[str, str]) -> Iterator[None]:
    """Run in ``cwd`` with ``env`` added to the environment, both restored after."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_cli(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> Outcome:
    """``otelbundle ARGV`` run as a reader runs it: the installed console script, in ``cwd``.

    A subprocess rather than :func:`otelbundle.cli.main` in this process, because
    what the command finds (``sys.path``, the working directory) is part of the claim.
    """
    result = subprocess.run(
        [str(OTELBUNDLE), *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Outcome("otelbundle " + " ".join(argv), result.returncode, result.stdout + result.stderr)


def parse_command(argv: list[str]) -> Outcome:
    """Parse (never run) ``otelbundle ARGV`` with the real parser: the path exists, its flags are accepted."""
    parser = cli.build_parser()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            parser.parse_args(argv)
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 0
    return Outcome("otelbundle " + " ".join(argv), status, out.getvalue())


def has_command(*path: str) -> bool:
    """Whether ``otelbundle PATH...`` is a command of the real parser."""
    parser: argparse.ArgumentParser = cli.build_parser()
    for name in path:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or name not in subparsers[0].choices:
            return False
        parser = subparsers[0].choices[name]
    return True


def scrub_check(path: Path) -> Outcome:
    """The ``scrub:`` section has no command of its own: its loader, as the configurator runs it."""
    from otelbundle.scrub.section import load_scrub_settings

    _, problems = load_scrub_settings(str(path), {})
    return Outcome("scrub section loader", 1 if problems else 0, "".join(f"{p}\n" for p in problems))


def check_otelbundle_yaml(path: Path, sections: set[str], env: Mapping[str, str]) -> list[Outcome]:
    """THE checker of an ``otelbundle.yaml`` example: the one place that chooses it.

    ``otelbundle config check`` checks every section at once when the CLI has it;
    until then each section goes through the checker it has (``rules check``,
    ``health check``, the scrub loader).
    """
    if has_command("config", "check"):
        return [run_cli(["config", "check", path.name], path.parent, env)]
    outcomes: list[Outcome] = []
    if "alerting" in sections:
        outcomes.append(run_cli(["rules", "check", path.name], path.parent, env))
    if "health" in sections:
        outcomes.append(run_cli(["health", "check", path.name], path.parent, env))
    if "scrub" in sections:
        with _environment(path.parent, env):
            outcomes.append(scrub_check(path))
    return outcomes

"""All tooling: the ``otelbundle`` command and what only it uses. Nothing outside ``cli`` imports it.

The console script is ``otelbundle.cli:main``; ``python -m otelbundle.cli`` works too.
"""

from otelbundle.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

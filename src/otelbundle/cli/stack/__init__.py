"""Native backend stack: find or build the binaries, start them on loopback, stop them."""

from otelbundle.cli.stack.runner import Stack, StackError

__all__ = ["Stack", "StackError"]

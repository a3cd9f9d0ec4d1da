"""argparse types the commands share, so every command refuses the same bad value the same way."""

from __future__ import annotations

import argparse


def line_count(text: str) -> int:
    """A positive number of lines (``-n 0`` printing everything, ``-n -3`` all but three, surprised)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of lines")
    return value

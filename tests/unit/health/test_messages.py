"""clean_message: the rules run before the cut, and a failing scrub hides rather than shows."""

from __future__ import annotations

from otelbundle.health.messages import MAX_MESSAGE_CHARS, builtin_scrub, clean_message
from otelbundle.scrub import FAILED_MARKER

DSN_ERROR = "postgresql://app:s3cret@db/x unreachable"


def test_a_secret_cut_in_half_by_the_length_limit_is_scrubbed_before_the_cut() -> None:
    """Cut first, the rules would no longer see `user:password@` (no @ left) and half the
    password would be served."""
    message = "x" * (MAX_MESSAGE_CHARS - 30) + " " + DSN_ERROR
    cleaned = clean_message(message, builtin_scrub())
    assert "s3c" not in cleaned
    assert cleaned.startswith("x" * (MAX_MESSAGE_CHARS - 30) + " postgresql://REDACTED")


def test_a_scrub_that_fails_hides_the_message_rather_than_showing_it() -> None:
    def broken(text: str) -> str:
        raise RuntimeError("no")

    assert clean_message(DSN_ERROR, broken) == FAILED_MARKER


def test_a_message_longer_than_the_scrub_window_is_cut_and_counted() -> None:
    message = "y" * 5_000_000
    cleaned = clean_message(message, builtin_scrub())
    assert cleaned == "y" * MAX_MESSAGE_CHARS + f"… ({5_000_000 - MAX_MESSAGE_CHARS} more characters cut)"

"""The one error the native stack's runner raises: it says what happened and what to do."""


class StackError(Exception):
    """A fault with its explanation; the CLI prints it without a traceback."""

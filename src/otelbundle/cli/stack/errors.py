"""The one error the native stack's runner raises: it says what happened and what to do."""


class StackError(Exception):
    """A fault with its explanation; the CLI prints it without a traceback."""


class StackUsageError(StackError):
    """A value the person gave (an option, a variable) that cannot be used: exit status 2,
    like argparse's usage errors, and nothing was started."""

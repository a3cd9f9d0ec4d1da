"""The one error every part of ``stack install`` raises: it says what happened and what to do."""


class InstallError(Exception):
    """A fault with its explanation; the CLI prints it without a traceback."""

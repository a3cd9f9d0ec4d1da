"""The one ``${env:NAME}`` policy, as in the collector's config.

``${env:NAME}`` is replaced by the variable, ``${env:NAME:-default}`` by the
default when the variable is unset or empty (as the shell and the SDK's declarative-config
spec read ``:-``; the collector takes the default only when it is unset), ``$$`` is a
literal ``$``. The
substitution happens on scalar values *after* parsing, so a variable can never
inject YAML structure. A reference without a default whose variable is unset
becomes an empty string *and* a problem, in every section: the part that uses
it is switched off and the check commands fail. So does a reference in another
syntax (``${TOKEN}``, ``${URL:-http://x}`` as in a shell or Compose file,
``${ env:A }``, ``${ENV:A}``; :func:`malformed_refs`): it would otherwise stay in the value as
text, and a header ``Bearer ${TOKEN}`` would be sent as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from otelbundle.config.problems import NOT_READ_AS_VARIABLE

ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DOLLAR_ESCAPE = "$$"
# What looks meant as a reference: a shell/Compose one, or ${env:...} written wrongly.
# `${{ $value }}` (a `$` before a template) is not one.
# `${ENV:A}` too: the collector's scheme is lower case, and so is ours.
_LOOKS_LIKE_REF = re.compile(r"\$\{(?:[A-Za-z_][A-Za-z0-9_]*(?::?[-=?+][^}]*)?|\s*(?i:env)\s*:[^}]*)\}")
_SHELL_FORM = re.compile(r"(?:(?i:env)\s*:\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*(?::?-([^}]*))?")


def substitute_env(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ``${env:NAME}`` and ``${env:NAME:-default}``; ``$$`` escapes a literal ``$``.

    Returns the new text and the names that were unset and had no default.
    """
    missing: list[str] = []

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                missing.append(name)
                return ""
            return default
        return value

    parts = text.split(_DOLLAR_ESCAPE)
    return "$".join(ENV_REF.sub(repl, part) for part in parts), missing


def malformed_refs(text: str) -> list[str]:
    """Each ``${...}`` of ``text`` (outside ``$$`` escapes) meant as a reference but not ``${env:...}``."""
    found: list[str] = []
    for part in text.split(_DOLLAR_ESCAPE):
        for match in _LOOKS_LIKE_REF.finditer(part):
            if ENV_REF.match(part, match.start()) is None:
                found.append(match.group())
    return found


def malformed_ref_message(ref: str) -> str:
    """What is wrong with ``ref`` (from :func:`malformed_refs`) and what to write instead."""
    shape = _SHELL_FORM.fullmatch(ref[2:-1].strip())
    if shape is None:
        fix = "${env:NAME}, NAME of letters, digits and _"
    else:
        name, default = shape.groups()
        fix = f"${{env:{name}:-{default}}}" if default is not None else f"${{env:{name}}}"
    return (
        f"{ref!r}{NOT_READ_AS_VARIABLE}{fix} "
        "(only ${env:NAME} and ${env:NAME:-default} are; $${ is a literal ${)"
    )

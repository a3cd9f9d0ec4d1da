"""The one ``${env:NAME}`` policy, as in the collector's config.

``${env:NAME}`` is replaced by the variable, ``${env:NAME:-default}`` by the
default when the variable is unset or empty, ``$$`` is a literal ``$``. The
substitution happens on scalar values *after* parsing, so a variable can never
inject YAML structure. A reference without a default whose variable is unset
becomes an empty string *and* a problem, in every section: the part that uses
it is switched off and the check commands fail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DOLLAR_ESCAPE = "$$"


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

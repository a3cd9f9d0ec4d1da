"""The install commands the docs give work for a newcomer.

otelbundle is not published on PyPI, so ``pip install otelbundle`` (or
``"otelbundle[examples]"``) finds nothing, or someone else's package should the
name ever be taken. The docs install from a checkout or from the wheel built there.
"""

from __future__ import annotations

import re
import shlex

from tests.unit.docs.markdown import DOC_FILES, blocks, inline_code

_PIP_INSTALL = re.compile(r"\bpip install\b(.*)")


def registry_installs_of_otelbundle() -> list[str]:
    """``pip install`` lines (fenced or inline) that name otelbundle as a registry requirement."""
    found: list[str] = []
    for doc in DOC_FILES:
        texts = [(b.where, line) for b in blocks(doc) for line in b.text.splitlines()]
        texts += [(i.where, i.text) for i in inline_code(doc)]
        for where, text in texts:
            match = _PIP_INSTALL.search(text)
            if match is None:
                continue
            try:
                words = shlex.split(match.group(1), comments=True)
            except ValueError:
                words = match.group(1).split()
            if any(re.fullmatch(r"otelbundle(\[[\w,]+\])?([<>=!~].*)?", w, re.IGNORECASE) for w in words):
                found.append(f"{where}: {text.strip()}")
    return found


def test_no_doc_installs_otelbundle_from_the_registry() -> None:
    found = registry_installs_of_otelbundle()
    assert not found, "otelbundle is not on PyPI; install from a checkout or its wheel:\n" + "\n".join(found)

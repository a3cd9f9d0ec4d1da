"""Every ``bench/bench_*.py`` command the docs show names a script that exists and flags it takes.

Commands are read from the docs' code blocks and inline code, comments included
(``# --samples 20 --seconds 15`` lists a script's defaults); a flag is accepted
when the script declares it with ``add_argument``.
"""

from __future__ import annotations

import re

import pytest

from tests.unit.docs.markdown import DOC_FILES, ROOT, rel

_COMMAND = re.compile(r"bench/(bench_\w+\.py)((?:[ \t]+(?:\\\n\s*)?(?:#[ \t]*)?[^\s`|;&]+)*)")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
_DECLARED = re.compile(r"add_argument\(\s*\"(--[a-z][a-z0-9-]*)\"")


def documented() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOC_FILES:
        text = doc.read_text()
        for match in _COMMAND.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{rel(doc)}:{line}", match.group(1), match.group(2)))
    return found


COMMANDS = documented()


def test_the_docs_show_bench_commands() -> None:
    assert any(script == "bench_distro.py" and "--variant" in args for _, script, args in COMMANDS)


@pytest.mark.parametrize(("where", "script", "args"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_documented_bench_command_uses_flags_its_script_takes(where: str, script: str, args: str) -> None:
    path = ROOT / "bench" / script
    assert path.exists(), f"{where}: bench/{script} does not exist"
    declared = set(_DECLARED.findall(path.read_text())) | {"--help"}
    unknown = sorted(set(_FLAG.findall(args)) - declared)
    assert not unknown, f"{where}: bench/{script} takes no {', '.join(unknown)}"

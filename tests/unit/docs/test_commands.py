"""Every ``otelbundle …`` command line shown in the docs is accepted by the real parser.

Commands are taken from shell blocks (every line; in ``console`` blocks the
``$ `` lines), from indented code blocks and from inline code. Each is parsed,
never run, by :func:`otelbundle.cli.build_parser`: the subcommand path must exist
and its flags and values must be accepted. A ``console`` block that shows the
command failing with ``usage:``/``error:`` must fail in the parser with that
same error line. Placeholders a reader replaces (``<id>``, ``DIR``…) get a value
of the kind the option takes, from :data:`PLACEHOLDERS`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.docs.checkers import parse_command
from tests.unit.docs.markdown import DOC_FILES, blocks, indented_code, inline_code, rel

# What a reader would type for a placeholder shown in a doc.
PLACEHOLDERS = {
    "<id>": "4bf92f3577b34da6a3ce929d0e0e4736",
    "<that dir>": "/tmp/otelbundle-stack",
    "…": "x",
}

_SHELL_LANGS = ("", "sh", "shell", "bash", "console")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "(", ")"}


@dataclass(frozen=True)
class Command:
    doc: Path
    line: int
    text: str
    expected_error: str | None = None  # the `error:` line a console block shows after it

    @property
    def where(self) -> str:
        return f"{rel(self.doc)}:{self.line}"


def argv_of(text: str) -> list[str] | None:
    """The arguments after ``otelbundle`` in a shell line, or None if it does not run otelbundle."""
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, shlex.quote(value))
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:
        return None
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)
    if not words or (words[0] != "otelbundle" and not words[0].endswith("/bin/otelbundle")):
        return None
    argv: list[str] = []
    for word in words[1:]:
        if word in _OPERATORS:
            break
        argv.append(word)
    return argv


def _block_commands() -> list[Command]:
    found: list[Command] = []
    for doc in DOC_FILES:
        for block in blocks(doc):
            if block.lang not in _SHELL_LANGS:
                continue
            lines = block.text.splitlines()
            index = 0
            while index < len(lines):
                start, text = index, lines[index]
                while text.endswith("\\") and index + 1 < len(lines):
                    index += 1
                    text = text[:-1] + " " + lines[index].strip()
                index += 1
                if block.lang == "console" or (block.lang == "" and text.startswith("$ ")):
                    if not text.startswith("$ "):
                        continue
                    text = text[2:]
                    output: list[str] = []
                    while index + len(output) < len(lines) and not lines[index + len(output)].startswith(
                        "$ "
                    ):
                        output.append(lines[index + len(output)])
                    error = next((o for o in output if o.startswith("otelbundle") and ": error: " in o), None)
                    usage = any(o.startswith("usage: otelbundle") for o in output)
                    found.append(Command(doc, block.line + start, text, error if usage else None))
                elif block.lang != "":
                    found.append(Command(doc, block.line + start, text))
    return found


def _prose_commands() -> list[Command]:
    """Inline and indented code; a bare `otelbundle` there is the name, not a command."""
    return [
        Command(item.doc, item.line, item.text)
        for doc in DOC_FILES
        for item in (*inline_code(doc), *indented_code(doc))
        if argv_of(item.text)
    ]


def _alternatives(command: Command) -> list[Command]:
    """`otelbundle stack up   # status | logs [component] | down`: the commented alternatives too.

    Each alternative replaces the last word; optional ``[words]`` are left out.
    """
    code, _, comment = command.text.partition("#")
    if "|" not in comment or not re.fullmatch(r"[\w\s|\[\]-]+", comment):
        return []
    base = code.split()[:-1]
    found: list[Command] = []
    for alternative in comment.split("|"):
        words = re.sub(r"\[[^\]]*\]", "", alternative).split()
        if words:
            found.append(Command(command.doc, command.line, " ".join(base + words)))
    return found


def _commands() -> list[Command]:
    found = [c for c in (*_block_commands(), *_prose_commands()) if argv_of(c.text) is not None]
    return found + [alternative for command in found for alternative in _alternatives(command)]


COMMANDS = _commands()

# Commands known to be false, each with the issue that fixes it (strict xfail: errors once fixed).
KNOWN_FALSE: dict[tuple[str, str], str] = {}


def _params() -> list[object]:
    params: list[object] = []
    for command in COMMANDS:
        reason = next(
            (r for (doc, text), r in KNOWN_FALSE.items() if rel(command.doc) == doc and text in command.text),
            None,
        )
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(command, id=f"{command.where} {command.text}", marks=marks))
    return params


@pytest.mark.parametrize("command", _params())
def test_command_is_accepted_by_the_cli(command: Command) -> None:
    argv = argv_of(command.text)
    assert argv is not None
    outcome = parse_command(argv)
    if command.expected_error is None:
        assert outcome.status == 0, (
            f"{command.where}: `{command.text}` is not accepted by the otelbundle CLI "
            f"(exit {outcome.status}):\n{outcome.output}"
        )
    else:
        assert outcome.status == 2 and command.expected_error in outcome.output, (
            f"{command.where}: the doc shows `{command.text}` failing with {command.expected_error!r}; "
            f"the CLI says (exit {outcome.status}):\n{outcome.output}"
        )


def test_commands_are_found() -> None:
    """The extraction itself, so that an empty list cannot make the test above vacuous."""
    shown = {(rel(c.doc), " ".join(argv_of(c.text) or [])[:11]) for c in COMMANDS}
    assert ("docs/alerting.md", "rules check") in shown, shown
    assert ("docs/health.md", "health chec") in shown, shown
    assert ("docs/logging.md", "logs --trac") in shown, shown
    assert ("docs/deploy.md", "stack up") in shown, shown

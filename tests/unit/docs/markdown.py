"""What the docs tests read out of the Markdown files: fenced blocks, inline code, links, headings.

A deliberately small reader for the Markdown these docs use (no nesting beyond a
fence inside a list item), so that every item carries the file and line a
failure must name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# The documents whose claims are tested: the README, docs/ and the examples' README.
DOC_FILES = tuple(
    [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]
)

_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
_INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced code block; ``line`` is the 1-based line of its first content line."""

    doc: Path
    line: int
    lang: str
    text: str
    marker: dict[str, str]

    @property
    def where(self) -> str:
        return f"{rel(self.doc)}:{self.line}"


@dataclass(frozen=True)
class Inline:
    """Inline code (`...`) outside fenced blocks."""

    doc: Path
    line: int
    text: str

    @property
    def where(self) -> str:
        return f"{rel(self.doc)}:{self.line}"


def rel(path: Path) -> str:
    """The path as a failure names it: relative to the repository when it is inside."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _parse_marker(text: str) -> dict[str, str]:
    """``context=examples/rules skip="reason"`` → {"context": ..., "skip": ...}."""
    result: dict[str, str] = {}
    for match in re.finditer(r'(\w+)=(?:"([^"]*)"|(\S+))', text):
        result[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
    return result


@cache
def lines_of(doc: Path) -> tuple[str, ...]:
    return tuple(doc.read_text(encoding="utf-8").splitlines())


@cache
def blocks(doc: Path) -> tuple[Block, ...]:
    """Every fenced block, with the ``<!-- docs-test: ... -->`` marker on the line before it."""
    found: list[Block] = []
    lines = lines_of(doc)
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, fence, lang = match.group(1), match.group(2), match.group(3).lower()
        marker_match = _MARKER.match(lines[index - 1]) if index > 0 else None
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence[0] * len(fence)):
            line = lines[end]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            end += 1
        found.append(
            Block(
                doc=doc,
                line=index + 2,
                lang=lang,
                text="\n".join(body) + "\n",
                marker=_parse_marker(marker_match.group(1)) if marker_match else {},
            )
        )
        index = end + 1
    return tuple(found)


def _fenced_line_numbers(doc: Path) -> set[int]:
    """0-based numbers of the lines inside (and of) fences."""
    inside: set[int] = set()
    for block in blocks(doc):
        first = block.line - 2
        inside.update(range(first, first + block.text.count("\n") + 2))
    return inside


@cache
def prose_lines(doc: Path) -> tuple[tuple[int, str], ...]:
    """(1-based line, text) of every line outside fenced blocks."""
    fenced = _fenced_line_numbers(doc)
    return tuple((number + 1, line) for number, line in enumerate(lines_of(doc)) if number not in fenced)


@cache
def inline_code(doc: Path) -> tuple[Inline, ...]:
    """Inline code spans of the prose; a span may continue on the next line, as Markdown allows."""
    found: list[Inline] = []
    prose = prose_lines(doc)
    for position, (number, line) in enumerate(prose):
        text = line
        # A backtick left open on this line closes on the next one: join them for this line only.
        if line.count("`") % 2 == 1 and position + 1 < len(prose):
            text = f"{line} {prose[position + 1][1]}"
        for match in _INLINE.finditer(text):
            if match.start() < len(line):
                found.append(Inline(doc, number, match.group(1).strip()))
    return tuple(found)


@cache
def indented_code(doc: Path) -> tuple[Inline, ...]:
    """Lines of indented (4-space) code blocks: after a blank line, outside lists and fences."""
    found: list[Inline] = []
    previous_blank = True
    in_block = False
    for number, line in prose_lines(doc):
        if not line.strip():
            previous_blank = True
            continue
        starts_block = line.startswith("    ") and (previous_blank or in_block)
        in_block = starts_block and not line.lstrip().startswith(("-", "*", "|"))
        if in_block:
            found.append(Inline(doc, number, line.strip()))
        previous_blank = False
    return tuple(found)


@cache
def links(doc: Path) -> tuple[Inline, ...]:
    """Targets of Markdown links and images in the prose (inline code stripped first)."""
    found: list[Inline] = []
    for number, line in prose_lines(doc):
        for match in _LINK.finditer(_INLINE.sub("", line)):
            found.append(Inline(doc, number, match.group(1)))
    return tuple(found)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces → '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(doc: Path) -> frozenset[str]:
    found: set[str] = set()
    for _, line in prose_lines(doc):
        match = _HEADING.match(line)
        if match:
            base = slug(match.group(2))
            name, count = base, 1
            while name in found:  # repeated headings get -1, -2, ...
                name, count = f"{base}-{count}", count + 1
            found.add(name)
    return frozenset(found)

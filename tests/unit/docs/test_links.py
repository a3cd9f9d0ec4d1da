"""Every relative link in the docs resolves, and so does every repository path they name.

* ``[text](target)`` and images: the file or folder exists relative to the doc, and a
  ``#anchor`` (into a Markdown file) is one of its headings, as GitHub makes anchors.
* Inline code that is a path into this repository (it starts with a top-level
  folder of it, or names a ``.md``/``.py``/``.yaml``/… file with a folder) must exist,
  relative to the repository root or to the doc; a ``*`` must match something.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.docs.markdown import DOC_FILES, ROOT, Inline, anchors, inline_code, links, rel

_TOP_LEVEL = {p.name for p in ROOT.iterdir() if not p.name.startswith(".") or p.name == ".ci"} - {
    ".venv",
    ".venv-bench",
}
_EXTENSIONS = (".md", ".py", ".yaml", ".yml", ".sh", ".toml", ".json", ".txt", ".png")
_PATHLIKE = re.compile(r"^[\w*-][\w.*-]*(?:/[\w.*-]+)+/?$")
_DOC_NAME = re.compile(r"^[\w-][\w.-]*\.md$")


def _resolves(doc: Path, target: str) -> str | None:
    """None when ``target`` (a link) resolves from ``doc``, else what is wrong."""
    path_part, _, anchor = target.partition("#")
    file = (doc.parent / path_part).resolve() if path_part else doc
    if not file.exists():
        return f"{path_part} does not exist"
    if anchor and file.suffix == ".md" and anchor not in anchors(file):
        return f"{rel(file)} has no heading with the anchor #{anchor}"
    return None


def test_relative_links_resolve() -> None:
    broken: list[str] = []
    for doc in DOC_FILES:
        for link in links(doc):
            if re.match(r"^[a-z][a-z0-9+.-]*:", link.text):  # http:, https:, mailto:
                continue
            problem = _resolves(doc, link.text)
            if problem:
                broken.append(f"{link.where}: link ({link.text}): {problem}")
    assert not broken, "\n".join(broken)


def _repository_path(item: Inline) -> str | None:
    text = item.text
    if _DOC_NAME.match(text):
        return text
    if not _PATHLIKE.match(text):
        return None
    first = text.split("/", 1)[0]
    if first in _TOP_LEVEL or text.rstrip("/").endswith(_EXTENSIONS):
        return text
    return None


def test_named_repository_paths_exist() -> None:
    missing: list[str] = []
    for doc in DOC_FILES:
        for item in inline_code(doc):
            path = _repository_path(item)
            if path is None:
                continue
            # A path may be relative to one named just before it on the line
            # (`deploy/prometheus/prometheus.yml`, `rules/*.yaml`).
            siblings = [
                (ROOT / other.text).parent
                for other in inline_code(doc)
                if other.line == item.line and other.text != path and _PATHLIKE.match(other.text)
            ]
            bases = (ROOT, doc.parent, *siblings)
            if not any(
                any(base.glob(path.rstrip("/"))) if "*" in path else (base / path).exists() for base in bases
            ):
                missing.append(f"{item.where}: `{path}` is not in the repository")
    assert not missing, "\n".join(missing)


def test_links_are_found() -> None:
    """The extraction itself, so that the tests above cannot pass on nothing."""
    found = {(rel(link.doc), link.text) for doc in DOC_FILES for link in links(doc)}
    assert ("README.md", "docs/configuration.md") in found, sorted(found)
    assert ("docs/collector.md", "#what-survives-which-outage") in found, sorted(found)

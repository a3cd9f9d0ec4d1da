"""Variables and config keys the docs name exist in the code, and the code's are documented.

* Every ``OTELBUNDLE_*``/``OTELCOL_*`` variable named in the docs appears in the
  code that reads it (``src/`` for ours, the collector configs for ``OTELCOL_*``).
  ``OTELBUNDLE_<NAME>_BIN`` in a doc stands for the names an f-string in the code makes.
* Every ``OTELBUNDLE_*`` variable in ``src/`` is named in the docs.
* Every key of the ``alerting:``, rule, ``health:`` and ``scrub:`` sections is named
  in the docs, and every key a doc table lists under a ``key`` column is one of them.
  (Keys inside YAML examples are checked by the checkers, test_examples.py.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.unit.docs.markdown import DOC_FILES, ROOT, lines_of, prose_lines, rel

_DOC_VARIABLE = re.compile(r"\b(?:OTELBUNDLE|OTELCOL)_(?:[A-Z0-9_]|<[A-Z]+>)*[A-Z0-9>]")
_CODE_VARIABLE = re.compile(r"\b(?:OTELBUNDLE|OTELCOL)_(?:[A-Z0-9_]|\{[^}]*\})*[A-Z0-9}]")


def _pattern(name: str) -> re.Pattern[str]:
    """A variable name where ``<NAME>`` or ``{expr}`` stands for any upper-case part."""
    parts = re.split(r"<[A-Z]+>|\{[^}]*\}", name)
    return re.compile("[A-Z0-9_]+".join(re.escape(p) for p in parts) + r"\Z")


def _code_files() -> Iterable[Path]:
    yield from (ROOT / "src").rglob("*.py")
    yield from (ROOT / "otel-collector").glob("*.yaml")


def code_variables() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in _code_files():
        for name in _CODE_VARIABLE.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, path)
    return found


def doc_variables() -> dict[str, str]:
    """name → first doc:line naming it."""
    found: dict[str, str] = {}
    for doc in DOC_FILES:
        for number, line in enumerate(lines_of(doc), start=1):
            for name in _DOC_VARIABLE.findall(line):
                found.setdefault(name, f"{rel(doc)}:{number}")
    return found


def _known(name: str, names: Iterable[str]) -> bool:
    """Whether ``name`` (maybe a pattern) matches one of ``names`` (maybe patterns)."""
    names = list(names)
    if name in names:
        return True
    mine = _pattern(name)
    return any(mine.match(other) or _pattern(other).match(name) for other in names)


# Undocumented today because of #17 rows other helpers fix (strict: the mark goes with the fix).
UNDOCUMENTED_KNOWN: dict[str, str] = {}


def test_every_variable_the_docs_name_exists_in_the_code() -> None:
    code = code_variables()
    missing = [
        f"{where}: {name} is not read anywhere in src/ or otel-collector/"
        for name, where in doc_variables().items()
        if not _known(name, code)
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=UNDOCUMENTED_KNOWN[name])]
            if name in UNDOCUMENTED_KNOWN
            else [],
        )
        for name in sorted(n for n in code_variables() if n.startswith("OTELBUNDLE_"))
    ],
)
def test_every_variable_the_code_reads_is_documented(name: str) -> None:
    where = rel(code_variables()[name])
    assert _known(name, doc_variables()), (
        f"{name} is read in {where} but no doc (README.md, docs/, examples/README.md) names it"
    )


def code_config_keys() -> dict[str, frozenset[str]]:
    """The keys each config section accepts, from the loaders (the one place that lists them)."""
    from otelbundle.alerting import rule_files, rule_reader
    from otelbundle.alerting import section as alerting
    from otelbundle.alerting.notify.channels import CHANNEL_KEYS
    from otelbundle.health import check_kinds
    from otelbundle.health import section as health
    from otelbundle.scrub import section as scrub

    kinds: set[str] = set()
    for keys in check_kinds.KIND_KEYS.values():
        kinds |= keys
    notify = {f"notify.{channel}": frozenset(keys) for channel, keys in CHANNEL_KEYS.items()}
    return {
        **notify,
        "notify": frozenset(CHANNEL_KEYS),
        "alerting": alerting.ALERTING_KEYS,
        "rule group": rule_files.GROUP_KEYS,
        "rule": rule_reader.RULE_KEYS,
        "rule spans": rule_reader.SPANS_KEYS,
        "health": health._SECTION_KEYS,
        "health check": health._COMMON_KEYS | kinds,
        "scrub": scrub.SECTION_KEYS,
    }


def _documented_words() -> set[str]:
    """Every `code` token and every `key:` in the docs' text and examples."""
    words: set[str] = set()
    for doc in DOC_FILES:
        text = doc.read_text(encoding="utf-8")
        words.update(re.findall(r"`([^`\s]+)`", text))
        words.update(re.findall(r"([A-Za-z_][\w]*)\s*:", text))
        words.update(re.findall(r"\{\s*([A-Za-z_]\w*)\s*:", text))
    return words


# Keys known to be undocumented, each with the issue that fixes it (strict xfail: errors once fixed).
UNDOCUMENTED_KEYS: dict[str, str] = {}


@pytest.mark.parametrize(
    ("section", "key"),
    [
        pytest.param(
            section,
            key,
            marks=[pytest.mark.xfail(strict=True, reason=UNDOCUMENTED_KEYS[key])]
            if key in UNDOCUMENTED_KEYS
            else [],
        )
        for section, keys in sorted(code_config_keys().items())
        for key in sorted(keys)
    ],
)
def test_every_config_key_is_documented(section: str, key: str) -> None:
    assert key in _documented_words(), (
        f"the {section} key {key!r} is accepted by the code but no doc names it"
    )


def test_keys_listed_in_doc_tables_exist() -> None:
    """Tables whose first column is headed `key` list config keys: each must be one the code accepts."""
    accepted = set().union(*code_config_keys().values())
    wrong: list[str] = []
    for doc in DOC_FILES:
        in_key_table = False
        for number, line in prose_lines(doc):
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
            if not cells:
                in_key_table = False
                continue
            if cells[0] == "key":
                in_key_table = True
                continue
            if in_key_table and not set(cells[0]) <= {"-", ":"}:
                for key in re.findall(r"`([^`]+)`", cells[0]):
                    if key not in accepted:
                        wrong.append(f"{rel(doc)}:{number}: key {key!r} is not accepted by any config loader")
    assert not wrong, "\n".join(wrong)

"""Every fenced YAML example in README.md, docs/*.md and examples/README.md passes its checker.

A block is checked by what its top level holds:

* ``groups:`` or ``slos:`` — a rule file: ``otelbundle rules check``;
* ``rule_files:`` and ``tests:`` — a rule test file: ``otelbundle rules test``;
* ``alerting:``, ``health:`` or ``scrub:`` — an ``otelbundle.yaml``:
  :func:`~tests.unit.docs.checkers.check_otelbundle_yaml` (the one place that picks
  ``config check`` or the per-section checkers);
* a list of ``- alert: …`` items — rules of a group, checked inside
  ``groups: [{name: docs, rules: …}]``;
* a list of ``- name: … kind: …`` items — health checks, checked inside
  ``health: {checks: …}``;
* a mapping of ``alerting:`` keys (``notify:`` …) — checked inside ``alerting:``;
* Kubernetes probe fields (``livenessProbe:`` …) — parsed as YAML only.

Anything else fails until it is given a marker. Context an example needs is
given by a marker the reader sees too, and the test supplies exactly that:

* a first line ``# NAME`` naming a file (``# rules.yaml``, ``# rules/storefront.yaml``,
  ``# shop/health.py``): the block *is* that file, and every example of the same
  document is checked next to it (a config and the rule files or modules it names);
* ``<!-- docs-test: context=DIR -->`` on the line before the fence: the example is
  checked in a copy of the repository folder DIR, which the prose names;
* ``<!-- docs-test: skip="reason" -->``: parsed as YAML only, for that reason;
* ``${env:NAME}`` without a default: the reader has to set NAME, so the test
  does: ``http://127.0.0.1:9`` for names ending in ``_URL``, a placeholder otherwise.

Python blocks are compiled (syntax only). A failure names the doc file and line,
with the checker's own ``file:line:column`` messages moved onto the doc's lines.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from otelbundle.alerting.section import ALERTING_KEYS
from tests.unit.docs.checkers import Outcome, check_otelbundle_yaml, run_cli
from tests.unit.docs.markdown import DOC_FILES, ROOT, Block, blocks, prose_lines, rel

YAML_BLOCKS = [block for doc in DOC_FILES for block in blocks(doc) if block.lang in ("yaml", "yml")]
PYTHON_BLOCKS = [block for doc in DOC_FILES for block in blocks(doc) if block.lang == "python"]

_NAMED = re.compile(r"^#\s+([\w./-]+\.(?:ya?ml|py))(?=[\s,(]|$)")
_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_CONFIG_SECTIONS = {"alerting", "health", "scrub"}
_PROBE_KEYS = {"livenessProbe", "readinessProbe", "startupProbe"}

# Examples that are false today because of #17 rows other helpers fix, as
# {(doc, text in the block): reason}; strict, so the mark goes when the fix lands.
# (The notifiers.md example and the health.md python check, fixed by the #12
# configuration layer, were here.)
KNOWN_FALSE: dict[tuple[str, str], str] = {}


def file_name(block: Block) -> str | None:
    """The file a block says it is (its first line ``# NAME``), if it says so."""
    match = _NAMED.match(block.text)
    return match.group(1) if match else None


def example_env(text: str) -> dict[str, str]:
    """Values for the ``${env:NAME}`` an example leaves to the reader (no default)."""
    return {
        name: "http://127.0.0.1:9" if name.endswith("_URL") else f"docs-test-{name.lower()}"
        for name in _ENV.findall(text)
    }


@dataclass(frozen=True)
class Shape:
    """How a block is checked: its file name and the lines wrapped around it."""

    kind: str  # config | rules | ruletest | yaml-only
    name: str
    prefix: str = ""
    indent: int = 0

    def wrap(self, text: str) -> str:
        pad = " " * self.indent
        return self.prefix + "".join(pad + line if line.strip() else line for line in text.splitlines(True))

    @property
    def offset(self) -> int:
        return self.prefix.count("\n")


def shape_of(block: Block, data: object) -> Shape | str:
    """The :class:`Shape` of a parsed block, or why it has none."""
    named = file_name(block)
    if "skip" in block.marker:
        return Shape("yaml-only", named or "example.yaml")
    if isinstance(data, dict):
        keys = set(data)
        if keys & {"groups", "slos"}:
            return Shape("rules", named or "rules.yaml")
        if {"rule_files", "tests"} <= keys:
            return Shape("ruletest", named or "rules.test.yaml")
        if keys & _CONFIG_SECTIONS:
            return Shape("config", named or "otelbundle.yaml")
        if keys <= ALERTING_KEYS:
            return Shape("config", "otelbundle.yaml", "alerting:\n", 2)
        if keys <= _PROBE_KEYS:
            return Shape("yaml-only", "probes.yaml")
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        if all("alert" in item for item in data):
            return Shape("rules", "rules.yaml", "groups:\n  - name: docs\n    rules:\n", 6)
        if all("kind" in item and "name" in item for item in data):
            return Shape("config", "otelbundle.yaml", "health:\n  checks:\n", 4)
    return (
        "no checker matches this example; give it a docs-test marker (see tests/unit/docs/test_examples.py)"
    )


def _prepare(block: Block, work: Path) -> dict[str, tuple[Block, int]]:
    """Lay out the example's folder: context copy, the doc's named files; returns file → (block, offset)."""
    located: dict[str, tuple[Block, int]] = {}
    context = block.marker.get("context")
    if context:
        shutil.copytree(ROOT / context, work, dirs_exist_ok=True)
    for other in blocks(block.doc):
        name = file_name(other)
        if name and other is not block and other.lang in ("yaml", "yml", "python"):
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(other.text)
            located[name] = (other, 0)
    return located


def _on_doc_lines(output: str, located: Mapping[str, tuple[Block, int]]) -> str:
    """Rewrite ``…/NAME:LINE:`` in a checker's output as ``doc.md:DOCLINE:``."""
    for name, (block, offset) in located.items():
        pattern = re.compile(rf"(?:[^\s:]*/)?{re.escape(name)}:(\d+)")

        def on_doc(match: re.Match[str], block: Block = block, offset: int = offset) -> str:
            return f"{rel(block.doc)}:{block.line + int(match.group(1)) - 1 - offset}"

        output = pattern.sub(on_doc, output)
    return output


def _known_false(block: Block) -> str | None:
    for (doc, needle), reason in KNOWN_FALSE.items():
        if rel(block.doc) == doc and needle in block.text:
            return reason
    return None


def _params(items: list[Block]) -> list[object]:
    params: list[object] = []
    for block in items:
        reason = _known_false(block)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(block, id=block.where, marks=marks))
    return params


@pytest.mark.parametrize("block", _params(YAML_BLOCKS))
def test_yaml_example_passes_its_checker(block: Block, tmp_path: Path) -> None:
    try:
        data = yaml.safe_load(block.text)
    except yaml.YAMLError as exc:
        pytest.fail(f"{block.where}: the example is not valid YAML: {exc}")
    shape = shape_of(block, data)
    if isinstance(shape, str):
        pytest.fail(f"{block.where}: {shape}")
    if shape.kind == "yaml-only":
        return
    work = tmp_path / "example"
    work.mkdir()
    located = _prepare(block, work)
    target = work / shape.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(shape.wrap(block.text))
    located[shape.name] = (block, shape.offset)
    env = example_env("".join(b.text for b in blocks(block.doc)))
    outcomes: list[Outcome]
    if shape.kind == "rules":
        outcomes = [run_cli(["rules", "check", shape.name], work, env)]
    elif shape.kind == "ruletest":
        outcomes = [run_cli(["rules", "test", shape.name], work, env)]
    else:
        sections = set(yaml.safe_load(target.read_text()))
        outcomes = check_otelbundle_yaml(target, sections, env)
    assert outcomes, f"{block.where}: no checker ran"
    failed = [o for o in outcomes if not o.ok]
    assert not failed, "\n".join(
        f"{block.where}: the example fails `{o.command}` (exit {o.status}):\n{_on_doc_lines(o.output, located)}"
        for o in failed
    )


def unnamed_variables(doc: Path) -> list[str]:
    """``doc:line: NAME`` for each ``${env:NAME}`` (no default) of an example that the doc's prose never names.

    The test above sets such a variable itself; a reader who copies the example and
    runs its check only learns to set it from the prose. Unset, it fails the check
    (README's ``${env:ALERTMANAGER_URL}`` did, right after "rules check validates them").
    """
    prose = "\n".join(line for _, line in prose_lines(doc))
    return [
        f"{block.where}: ${{env:{name}}}"
        for block in blocks(doc)
        if block.lang in ("yaml", "yml")
        for name in dict.fromkeys(_ENV.findall(block.text))
        if not re.search(rf"\b{name}\b", prose)
    ]


def test_variables_an_example_needs_are_named_in_the_prose() -> None:
    missing = [item for doc in DOC_FILES for item in unnamed_variables(doc)]
    assert not missing, (
        "examples read these variables without a default, and the text around them never tells the "
        "reader to set them (name the variable in the prose, or give it a :-default):\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("block", [pytest.param(b, id=b.where) for b in PYTHON_BLOCKS])
def test_python_example_compiles(block: Block) -> None:
    try:
        compile(block.text, block.where, "exec")
    except SyntaxError as exc:
        pytest.fail(f"{rel(block.doc)}:{block.line + (exc.lineno or 1) - 1}: not valid Python: {exc.msg}")


# Modules an example may import before ``configure()``: no instrumentation patches them.
_SAFE_BEFORE_CONFIGURE = {"otelbundle", "__future__", "re", "typing"}


def imports_before_configure(block: Block) -> list[str]:
    """Modules a Python example imports before it calls ``otelbundle.configure()``.

    The instrumentations ``configure()`` loads replace what a library exports
    (``flask.Flask``): imported before the call, a framework keeps its original
    classes and its requests are never traced, silently.
    """
    import ast

    tree = ast.parse(block.text)
    # Calls at module level only: one inside a function (Celery's worker_process_init) runs later.
    top = [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    calls = [
        statement.lineno
        for statement in top
        for node in ast.walk(statement)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "configure"
    ]
    if not calls:
        return []
    first = min(calls)
    found: list[str] = []
    for node in top:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno < first:
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found.extend(n for n in names if n.split(".")[0] not in _SAFE_BEFORE_CONFIGURE)
    return found


@pytest.mark.parametrize("block", [pytest.param(b, id=b.where) for b in PYTHON_BLOCKS])
def test_python_examples_call_configure_before_importing_libraries(block: Block) -> None:
    early = imports_before_configure(block)
    assert not early, (
        f"{block.where}: imports {early} before otelbundle.configure(); those are not instrumented"
    )


def otelbundle_used_without_import(block: Block) -> bool:
    """A Python example that calls ``otelbundle.…`` but never imports it: copied, it raises NameError."""
    import ast

    tree = ast.parse(block.text)
    uses = any(
        isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "otelbundle"
        for node in ast.walk(tree)
    )
    imports = any(
        isinstance(node, ast.Import)
        and any(alias.name == "otelbundle" and alias.asname is None for alias in node.names)
        for node in ast.walk(tree)
    )
    return uses and not imports


@pytest.mark.parametrize("block", [pytest.param(b, id=b.where) for b in PYTHON_BLOCKS])
def test_python_examples_import_otelbundle_before_using_it(block: Block) -> None:
    assert not otelbundle_used_without_import(block), (
        f"{block.where}: uses otelbundle.… without `import otelbundle`"
    )


def undefined_names(block: Block) -> list[str]:
    """Names a Python example reads but never defines, imports or gets from builtins.

    Such an example compiles, and a reader who copies it gets a NameError when it
    runs (secrets.md's scrub hook used ``CUSTOMER_ID`` without defining it). Scopes
    are not told apart: a name bound anywhere in the example counts as defined.
    """
    import ast
    import builtins

    tree = ast.parse(block.text)
    defined = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            defined.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
    used = (n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
    return sorted({name for name in used if name not in defined})


@pytest.mark.parametrize("block", [pytest.param(b, id=b.where) for b in PYTHON_BLOCKS])
def test_python_examples_define_the_names_they_use(block: Block) -> None:
    missing = undefined_names(block)
    assert not missing, (
        f"{block.where}: uses {missing} without defining or importing them (NameError when run)"
    )


def test_every_yaml_example_is_checked() -> None:
    """The extraction itself: a doc without examples here would make the tests above vacuous."""
    docs = {rel(block.doc) for block in YAML_BLOCKS}
    assert {"README.md", "docs/alerting.md", "docs/health.md", "docs/secrets.md"} <= docs, docs

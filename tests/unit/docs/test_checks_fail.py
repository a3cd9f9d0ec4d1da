"""Each docs check fails, naming the doc and line, on a doc with one thing wrong.

Without these, a check that silently matched nothing would pass forever.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.docs import test_commands as commands
from tests.unit.docs import test_examples as examples
from tests.unit.docs.markdown import blocks, links
from tests.unit.docs.test_links import _resolves

BAD_RULE = """# Title

Some text.

```yaml
groups:
  - name: shop
    rules:
      - alert: CheckoutErrors
        spans: {service: shop}
        expr: eror_ratio > 5%
        window: 1m
```
"""


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


def _doc(tmp_path: Path, text: str) -> Path:
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    return doc


def test_a_bad_rule_example_fails_on_its_doc_line(tmp_path: Path) -> None:
    (block,) = blocks(_doc(tmp_path, BAD_RULE))
    with pytest.raises(AssertionError) as failure:
        examples.test_yaml_example_passes_its_checker(block, _work(tmp_path))
    message = str(failure.value)
    assert "doc.md:6: the example fails `otelbundle rules check" in message, message
    assert "doc.md:11:" in message and "eror_ratio" in message, message  # the expr line of the doc


def test_a_bad_config_fragment_fails(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "```yaml\n- {name: disk, kind: system, resource: disk, warnin: 85%}\n```\n")
    (block,) = blocks(doc)
    with pytest.raises(AssertionError) as failure:
        examples.test_yaml_example_passes_its_checker(block, _work(tmp_path))
    assert "doc.md:2:" in str(failure.value) and "warnin" in str(failure.value), str(failure.value)


def test_an_unknown_command_or_flag_fails(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    for text in ("otelbundle stack upp", "otelbundle logs --tail 5", "otelbundle rules check"):
        with pytest.raises(AssertionError) as failure:
            commands.test_command_is_accepted_by_the_cli(commands.Command(doc, 7, text))
        assert "doc.md:7: `" + text + "` is not accepted" in str(failure.value), str(failure.value)


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n")
    doc = _doc(tmp_path, "[a](other.md#a-section) [b](missing.md) [c](other.md#no-such)\n")
    targets = [link.text for link in links(doc)]
    assert targets == ["other.md#a-section", "missing.md", "other.md#no-such"], targets
    found, missing, no_anchor = (_resolves(doc, t) for t in targets)
    assert found is None
    assert missing == "missing.md does not exist"
    assert no_anchor is not None and no_anchor.endswith("other.md has no heading with the anchor #no-such")


def test_a_variable_only_the_example_names_is_found(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path,
        "Set `TOKEN` first.\n\n```yaml\nalerting:\n  notify:\n"
        '    webhook: {url: "${env:HOOK_URL}", headers: {A: "${env:TOKEN}"}}\n'
        '    alertmanager: {url: "${env:AM_URL:-http://x}"}\n```\n',
    )
    assert examples.unnamed_variables(doc) == [f"{doc}:4: ${{env:HOOK_URL}}"]


def test_an_import_before_configure_is_found(tmp_path: Path) -> None:
    doc = _doc(
        tmp_path, "```python\nimport otelbundle\nfrom flask import Flask\notelbundle.configure()\n```\n"
    )
    (block,) = blocks(doc)
    assert examples.imports_before_configure(block) == ["flask"]
    with pytest.raises(AssertionError) as failure:
        examples.test_python_examples_call_configure_before_importing_libraries(block)
    assert "doc.md:2: imports ['flask']" in str(failure.value), str(failure.value)

"""What a doc shows a command printing for one of its own examples is what the command prints.

test_examples.py checks that each example passes its checker; a doc also shows the
checker's answer to an example in a given state (a variable unset), and a reader
compares it character by character, positions included. Each case here names the
example (a text it holds), the shown output (a text its block holds), the command and
the environment the prose gives; every line of the shown output must be a line the
command prints.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.unit.docs.checkers import OTELBUNDLE
from tests.unit.docs.markdown import ROOT, Block, blocks


@dataclass(frozen=True)
class Case:
    doc: str
    example: str  # a text of the YAML block the command checks, written as otelbundle.yaml
    output: str  # a text of the block that shows what the command prints
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()


CASES = [
    # notifiers.md, Secrets: SLACK_WEBHOOK_URL unset, the other channels' variables set.
    Case(
        doc="docs/notifiers.md",
        example="pagerduty: {routing_key",
        output="notify.slack.webhook_url is empty",
        argv=("config", "check", "otelbundle.yaml"),
        env={
            "ALERT_WEBHOOK_TOKEN": "docs-test-token",
            "PAGERDUTY_ROUTING_KEY": "docs-test-key",
            "SMTP_PASSWORD": "docs-test-password",
        },
        unset=("SLACK_WEBHOOK_URL",),
    ),
    # health.md, Trying and validating: the first example, its variables set as the prose says.
    Case(
        doc="docs/health.md",
        example="http: {port: 8081}",
        output="SUCCESS: 3 health checks",
        argv=("health", "check", "otelbundle.yaml"),
        env={"INVENTORY_URL": "http://127.0.0.1:8001", "ORDERS_DB_DSN": "postgresql://app@127.0.0.1/orders"},
    ),
]


def _block(doc: str, needle: str, langs: tuple[str, ...]) -> Block:
    found = [b for b in blocks(ROOT / doc) if b.lang in langs and needle in b.text]
    assert len(found) == 1, f"{doc}: {len(found)} blocks hold {needle!r}; the case must name one"
    return found[0]


def _shown_lines(block: Block, argv: tuple[str, ...]) -> list[str]:
    """The lines the block shows as printed by ``otelbundle ARGV`` (a ``$`` block: that command's)."""
    lines = block.text.splitlines()
    if not any(line.startswith("$ ") for line in lines):
        return [line for line in lines if line.strip()]
    shown: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("$ "):
            inside = line[2:].split("#")[0].split() == ["otelbundle", *argv]
        elif inside and line.strip():
            shown.append(line)
    return shown


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.doc} {c.output}") for c in CASES])
def test_shown_output_is_what_the_command_prints(case: Case, tmp_path: Path) -> None:
    example = _block(case.doc, case.example, ("yaml", "yml"))
    shown_block = _block(case.doc, case.output, ("", "console", "text"))
    (tmp_path / "otelbundle.yaml").write_text(example.text)
    env = {k: v for k, v in os.environ.items() if k not in case.unset} | case.env
    result = subprocess.run(
        [str(OTELBUNDLE), *case.argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    printed = (result.stdout + result.stderr).splitlines()
    shown = _shown_lines(shown_block, case.argv)
    assert shown, f"{shown_block.where}: no output lines found for `otelbundle {' '.join(case.argv)}`"
    missing = [line for line in shown if line not in printed]
    assert not missing, (
        f"{shown_block.where}: the doc shows lines `otelbundle {' '.join(case.argv)}` does not print "
        f"for the example at {example.where}:\n"
        + "\n".join(missing)
        + "\n--- it prints:\n"
        + "\n".join(printed)
    )


def test_stack_status_exits_3_exactly_when_a_component_does_not_answer(tmp_path: Path) -> None:
    """deploy.md: `stack status` exits 0 only when every component answers, else 3, as an init
    script's ``status`` does. A stack dir where nothing was started is the plain case; while
    another stack holds the fixed ports (the e2e tier's, in the same test run) its components
    answer and are shown as reused, and the status is 0."""
    env = dict(os.environ, OTELBUNDLE_STACK_DIR=str(tmp_path / "stack"))
    result = subprocess.run(
        [str(OTELBUNDLE), "stack", "status"], env=env, capture_output=True, text=True, timeout=120
    )
    rows = [line for line in result.stdout.splitlines() if "http://127.0.0.1:" in line]
    assert len(rows) >= 5, (
        result.stdout + result.stderr
    )  # the collector, Jaeger, Prometheus, the log store, AM
    answering = [row for row in rows if "not healthy" not in row]
    assert "not running" in result.stdout, result.stdout  # this stack dir started nothing
    expected = 0 if len(answering) == len(rows) else 3
    assert result.returncode == expected, result.stdout + result.stderr


def test_a_health_url_is_shown_as_health_md_says(tmp_path: Path) -> None:
    """health.md, `http`: a result names the URL without its credentials, every query value
    masked, and a credential parameter as the scrubber writes it (it runs after the mask)."""
    shown = "/healthz?region=***&token=REDACTED"
    prose = (ROOT / "docs" / "health.md").read_text()
    assert f"`{shown}`" in prose, "the case quotes health.md's example; change both together"
    with socket.socket() as closed:  # bound, never listening: the check's connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://probe:s3cret-pw@127.0.0.1:{port}/healthz?region=eu&token=abc123"
        (tmp_path / "otelbundle.yaml").write_text(
            f'health:\n  checks:\n    - {{name: inv, kind: http, url: "{url}"}}\n'
        )
        result = subprocess.run(
            [str(OTELBUNDLE), "health", "run", "otelbundle.yaml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    printed = result.stdout + result.stderr
    assert f"http://127.0.0.1:{port}{shown}" in printed, printed
    assert "s3cret-pw" not in printed and "abc123" not in printed, printed


def test_frameworks_md_names_the_extras_that_hold_the_matrix_instrumentations() -> None:
    """frameworks.md says where the matrix's contrib instrumentations are pinned: every extra
    of pyproject.toml that holds one of them must be named there (Flask's is `examples`)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the unit tests also run on 3.10
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    intro = (ROOT / "docs" / "frameworks.md").read_text().split("## The matrix")[0]
    for framework in ("django", "flask", "fastapi", "celery"):
        holders = [
            name
            for name, requirements in extras.items()
            if any(re.match(rf"opentelemetry-instrumentation-{framework}\b", r) for r in requirements)
        ]
        assert holders, f"no extra of pyproject.toml pins opentelemetry-instrumentation-{framework}"
        unnamed = [name for name in holders if f"`{name}`" not in intro]
        assert not unnamed, f"docs/frameworks.md does not name the extra(s) {unnamed} ({framework})"

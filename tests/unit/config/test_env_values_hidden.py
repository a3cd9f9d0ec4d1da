"""A value that came from ${env:...} is never echoed in a problem: variables carry secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

from otelbundle.config.document import read_document
from otelbundle.health.section import read_health_section

SECRET = "s3cr3t-token"


def test_a_refused_env_value_is_located_but_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            health:
              checks:
                - name: inventory
                  kind: http
                  url: ${env:INVENTORY_URL}
                  timeout: ${env:INVENTORY_TIMEOUT}
                  method: "${env:INVENTORY_METHOD}"
            """
        )
    )
    env = {
        "INVENTORY_URL": f"inventory:8001/healthz?key={SECRET}",
        "INVENTORY_TIMEOUT": f" {SECRET} ",
        "INVENTORY_METHOD": SECRET,
    }
    _, problems = read_health_section(read_document(str(path), env))
    shown = [str(problem).replace(str(path), "F") for problem in problems]
    assert shown == [
        "F:6:16: timeout: the value of its ${env:...} (not shown) is not a duration (use e.g. 500ms, 15s, 1m)",
        "F:5:12: url: expected an http:// or https:// URL, got the value of its ${env:...} (not shown)",
        "F:7:16: method: the value of its ${env:...} (not shown) is not one of GET, HEAD, POST",
    ]


def test_a_value_written_in_the_file_is_still_quoted(tmp_path: Path) -> None:
    path = tmp_path / "otelbundle.yaml"
    path.write_text("health:\n  checks:\n    - {name: a, kind: http, url: 'inventory:8001'}\n")
    _, problems = read_health_section(read_document(str(path), {}))
    assert [p.message for p in problems] == ["url: expected an http:// or https:// URL, got 'inventory:8001'"]

"""The health: section: what it builds and exact file:line:column for every problem."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from otelbundle.health.checks import PythonCheck, SystemCheck, TcpCheck
from otelbundle.health.http_check import HttpCheck
from otelbundle.health.section import load_health_config
from otelbundle.health.sql_check import SqlCheck


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "otelbundle.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def problems_of(path: str) -> list[str]:
    _config, problems = load_health_config(path)
    return [str(p).replace(path, "F") for p in problems]


def test_no_health_section_means_no_config(tmp_path: Path) -> None:
    path = write(tmp_path, "alerting:\n  rule_files: [x.yaml]\n")
    assert load_health_config(path) == (None, [])


def test_every_kind_builds(tmp_path: Path, monkeypatch: object) -> None:
    import os

    os.environ["HEALTH_TEST_DSN"] = "/tmp/inv.db"
    try:
        path = write(
            tmp_path,
            """
            alerting: {ignored: entirely}
            health:
              interval: 10s
              timeout: 2s
              http: {port: 8081}
              checks:
                - {name: disk, kind: system, resource: disk, path: /, warning: 80%, critical: 95%, hysteresis: 2%}
                - {name: cache, kind: tcp, host: 127.0.0.1, port: 6379, interval: 5s, timeout: 1s}
                - name: inventory
                  kind: http
                  url: http://127.0.0.1:8001/healthz
                  expect_status: [200, 204]
                  body_contains: ok
                  readiness: false
                - {name: db, kind: sql, driver: sqlite3, dsn: "${env:HEALTH_TEST_DSN}"}
                - {name: custom, kind: python, function: "json:dumps"}
            """,
        )
        config, problems = load_health_config(path)
    finally:
        del os.environ["HEALTH_TEST_DSN"]
    assert problems == []
    assert config is not None and config.http is not None
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8081)
    disk, cache, inventory, db, custom = config.checks
    assert isinstance(disk, SystemCheck) and disk.thresholds.hysteresis == 2 and disk.spec.interval_s == 10
    assert isinstance(cache, TcpCheck) and cache.spec.timeout_s == 1 and cache.port == 6379
    assert isinstance(inventory, HttpCheck) and inventory.expect_status == (200, 204)
    assert inventory.spec.readiness is False and inventory.spec.timeout_s == 2
    assert isinstance(db, SqlCheck) and db.dsn == "/tmp/inv.db"
    assert isinstance(custom, PythonCheck) and custom.target == "json:dumps"


def test_every_problem_is_reported_with_its_position(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        health:
          interval: soon
          checks:
            - {name: a, kind: ping}
            - {name: b, kind: system, resource: cpu, warning: 90%, critical: 80%}
            - {name: c, kind: system, resource: gpu, critical: 150%}
            - {name: d, kind: tcp, host: db, port: 70000, retries: 3}
            - {name: e, kind: python, function: "no_such_module_xyz:check"}
            - {name: f, kind: http, url: "ftp://x"}
            - {name: b, kind: tcp, host: h}
            - {name: g, kind: sql, driver: oracle, dsn: x}
            - {name: h, kind: tcp, host: h, port: 1, interval: 1s, timeout: 5s}
        """,
    )
    assert problems_of(path) == [
        "F:2:13: interval: 'soon' is not a duration (use e.g. 500ms, 15s, 1m)",
        "F:4:23: unknown check kind 'ping'; use one of system, tcp, http, sql, python",
        "F:5:55: warning (90%) is above critical (80%)",
        "F:6:41: resource: 'gpu' is not one of cpu, memory, disk",
        "F:6:56: critical: '150%' is outside 0%..100%",
        "F:7:51: unknown key 'retries' in a tcp check (did you mean 'readiness'?)",
        "F:7:44: port: expected a port number 1..65535, got 70000",
        "F:8:42: cannot find module 'no_such_module_xyz' (is it on sys.path?)",
        "F:9:35: url: expected an http:// or https:// URL, got 'ftp://x'",
        "F:10:14: duplicate check name 'b' (first at F:5:14)",
        "F:10:7: missing required key 'port'",  # a duplicate's own problems are reported with it
        "F:11:36: driver: 'oracle' is not one of sqlite3, postgresql",
        "F:12:69: timeout (5s) is longer than interval (1s)",
    ]


def test_section_shape_problems(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, "health: [1]\n")) == [
        "F:1:9: health must be a mapping with a 'checks' list"
    ]
    assert problems_of(write(tmp_path, "health:\n  chekcs: []\n")) == [
        "F:2:3: unknown key 'chekcs' in health (did you mean 'checks'?)",
        "F:2:3: health.checks must be a non-empty list of checks",
    ]
    assert problems_of(write(tmp_path, "health:\n  checks:\n    - {kind: tcp, port: 1}\n")) == [
        "F:3:7: missing required key 'name'",
        "F:3:7: missing required key 'host'",
    ]


def test_missing_env_variable_inside_health_is_a_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        health:
          checks:
            - {name: db, kind: sql, driver: sqlite3, dsn: "${env:HEALTH_SURELY_UNSET_DSN}"}
        alerting:
          x: "${env:HEALTH_SURELY_UNSET_OTHER}"
        """,
    )
    assert problems_of(path) == [
        "F:3:52: environment variable HEALTH_SURELY_UNSET_DSN is not set",
        "F:3:52: dsn: expected a non-empty string, got ''",
    ]


def test_a_short_interval_without_a_timeout_is_valid_and_bounds_the_default_timeout(tmp_path: Path) -> None:
    """Nobody wrote a timeout: the 5s default must not make `interval: 2s` a config error."""
    path = write(
        tmp_path,
        """
        health:
          interval: 2s
          checks:
            - {name: a, kind: tcp, host: h, port: 1}
            - {name: b, kind: tcp, host: h, port: 1, interval: 500ms}
            - {name: c, kind: tcp, host: h, port: 1, interval: 1m}
        """,
    )
    config, problems = load_health_config(path)
    assert problems == []
    assert config is not None
    assert [c.spec.timeout_s for c in config.checks] == [2.0, 0.5, 5.0]


def test_a_written_timeout_longer_than_the_interval_is_still_a_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        health:
          interval: 2s
          timeout: 3s
          checks:
            - {name: a, kind: tcp, host: h, port: 1}
        """,
    )
    # At the timeout written, not at the check that inherits it.
    assert problems_of(path) == ["F:3:12: timeout (3s) is longer than interval (2s)"]


def test_problems_in_a_flow_style_section_are_at_their_field(tmp_path: Path) -> None:
    """health.timeout was blamed on every check that inherits it, at each check's `{`."""
    path = write(
        tmp_path,
        """
        health: {interval: 1s, timeout: 2s, checks: [{name: a, kind: tcp, host: h, port: 1},
          {name: b, kind: tcp, host: h, port: 1}, {name: c, kind: tcp, host: h, port: 1, interval: 500ms},
          {name: d, kind: tcp, host: h, port: 0, timeout: 1s}]}
        """,
    )
    assert problems_of(path) == [
        "F:1:33: timeout (2s) is longer than interval (1s)",  # once, at health.timeout
        "F:2:92: timeout (2s) is longer than interval (0.5s)",  # at c's own, shorter, interval
        "F:3:39: port: expected a port number 1..65535, got 0",
    ]
    assert problems_of(write(tmp_path, "health: {interval: 1s}\n")) == [
        "F:1:9: health.checks must be a non-empty list of checks"  # at the mapping that lacks it
    ]


def test_a_threshold_written_as_a_ratio_is_a_problem_that_says_what_to_write(tmp_path: Path) -> None:
    """`warning: 0.8` was read as 0.8 % (a bare number is a percentage): the check was degraded
    at any load and said nothing about why. A ratio is refused, as for SLO objectives."""
    path = write(
        tmp_path,
        """
        health:
          checks:
            - {name: mem, kind: system, resource: memory, warning: 0.8, critical: 0.95}
            - {name: disk, kind: system, resource: disk, critical: 1}
            - {name: cpu, kind: system, resource: cpu, warning: "0.85"}
        """,
    )
    assert problems_of(path) == [
        "F:3:60: warning: 0.8 reads as 0.8% (a bare number is a percentage); write 80% (or 80)",
        "F:3:75: critical: 0.95 reads as 0.95% (a bare number is a percentage); write 95% (or 95)",
        "F:4:60: critical: 1 is ambiguous: a bare number is a percentage (1%), as a ratio it would be "
        "100%; write it with %: 1% or 100%",
        "F:5:58: warning: '0.85' reads as 0.85% (a bare number is a percentage); write 85% (or 85)",
    ]


def test_thresholds_that_are_percentages_are_taken_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        health:
          checks:
            - {name: a, kind: system, resource: memory, warning: 80, critical: 95%}
            - {name: b, kind: system, resource: disk, warning: 0.5%, critical: 1%, hysteresis: 0.2}
            - {name: c, kind: system, resource: cpu, warning: 0, critical: 100}
        """,
    )
    config, problems = load_health_config(path)
    assert problems == [] and config is not None
    checks = [c for c in config.checks if isinstance(c, SystemCheck)]
    thresholds = [(c.thresholds.warning, c.thresholds.critical, c.thresholds.hysteresis) for c in checks]
    assert thresholds == [(80, 95, 0), (0.5, 1, 0.2), (0, 100, 0)]


def test_a_check_name_with_control_characters_is_refused_where_it_is_written(tmp_path: Path) -> None:
    """A name is printed as written in the state-change log line (stderr under basicConfig): a
    newline in it forged a second log line, ESC coloured the terminal, a lone surrogate could not
    be encoded for export. Such a name is a problem at load, so every output can print it."""
    path = write(
        tmp_path,
        r"""
        health:
          checks:
            - {name: "db\nERROR otelbundle: fake", kind: tcp, host: h, port: 1}
            - {name: "red\e[31m", kind: tcp, host: h, port: 1}
            - {name: "\u202Eevil", kind: tcp, host: h, port: 1}
            - {name: "tab\there", kind: tcp, host: h, port: 1}
            - {name: "a\uD800b", kind: tcp, host: h, port: 1}
            - {name: "über café ✓", kind: tcp, host: h, port: 1}
        """,
    )
    config, problems = load_health_config(path)
    tail = (
        "; a check's name is printed in log lines, span names and metric labels: "
        "use printable characters on one line"
    )
    assert [str(p).replace(path, "F") for p in problems] == [
        "F:3:15: name: 'db\\nERROR otelbundle: fake' holds a control character (U+000A)" + tail,
        "F:4:15: name: 'red\\x1b[31m' holds a control character (U+001B)" + tail,
        "F:5:15: name: '\\u202eevil' holds an invisible formatting character (U+202E)" + tail,
        "F:6:15: name: 'tab\\there' holds a control character (U+0009)" + tail,
        "F:7:15: name: 'a\\ud800b' holds a lone surrogate (U+D800)" + tail,
    ]
    assert config is not None and [check.spec.name for check in config.checks] == ["über café ✓"]


def test_a_package_that_raises_as_it_is_looked_up_is_said_as_a_failed_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Looking ``pkg.mod`` up imports ``pkg``; when ``pkg`` raises, the module is there and broken,
    not missing: said as the app says a failed import (``cannot find module 'pkg.mod': needs
    stripe (is it on sys.path?)`` sent the reader looking at sys.path). A part of the name that
    is not there is still "cannot find"."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "sectionpkg_broken").mkdir()
    (tmp_path / "sectionpkg_broken" / "__init__.py").write_text("import sectionpkg_not_installed\n")
    path = write(
        tmp_path,
        """
        health:
          checks:
            - {name: payments, kind: python, function: "sectionpkg_broken.health:check"}
            - {name: gone, kind: python, function: "sectionpkg_absent.health:check"}
        """,
    )
    try:
        assert problems_of(path) == [
            "F:3:49: health check 'payments': cannot import sectionpkg_broken.health:check: "
            "ModuleNotFoundError: No module named 'sectionpkg_not_installed'",
            "F:4:45: cannot find module 'sectionpkg_absent.health': "
            "No module named 'sectionpkg_absent' (is it on sys.path?)",
        ]
    finally:
        sys.modules.pop("sectionpkg_broken", None)


def test_a_host_written_as_a_url_or_with_its_port_is_a_problem_at_the_host(tmp_path: Path) -> None:
    """Both loaded, then failed every run (or the endpoint at start) as ``Name or service not
    known``, naming no file, line or field."""
    path = write(
        tmp_path,
        """
        health:
          http: {port: 8081, host: "localhost:8081"}
          checks:
            - {name: a, kind: tcp, host: "http://db.internal", port: 5432}
            - {name: b, kind: tcp, host: "db.internal:5432", port: 5432}
            - {name: c, kind: tcp, host: "::1", port: 5432}
            - {name: d, kind: tcp, host: "fe80::1%eth0", port: 5432}
        """,
    )
    assert problems_of(path) == [
        "F:2:29: host: 'localhost:8081' holds a port; write the host alone and the port in port:",
        "F:4:35: host: 'http://db.internal' is a URL; write the host name or address alone "
        "(db.internal, 10.0.0.5), its port in port:",
        "F:5:35: host: 'db.internal:5432' holds a port; write the host alone and the port in port:",
    ]


def test_a_host_from_the_environment_is_not_shown_in_its_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECTION_DB_HOST", "db.internal:5432")
    path = write(
        tmp_path,
        """
        health:
          checks:
            - {name: a, kind: tcp, host: "${env:SECTION_DB_HOST}", port: 5432}
        """,
    )
    [problem] = problems_of(path)
    assert problem.startswith("F:3:35: host: the value of its ${env:...} (not shown) holds a port")
    assert "db.internal" not in problem


def test_a_sqlalchemy_url_as_a_sqlite3_dsn_is_a_problem_at_the_dsn(tmp_path: Path) -> None:
    """``sqlite:///app.db`` was opened as a file of that name: ``unable to open database file``
    at every run, naming no field. The message does not repeat the DSN (a DSN may hold a password)."""
    path = write(
        tmp_path,
        """
        health:
          checks:
            - {name: db, kind: sql, driver: sqlite3, dsn: "sqlite:///app.db"}
            - {name: db2, kind: sql, driver: sqlite3, dsn: "file:app.db?mode=ro"}
        """,
    )
    assert problems_of(path) == [
        "F:3:52: dsn: a SQLAlchemy URL (sqlite:///...) is not a path; the sqlite3 driver takes "
        "the database file's path (/var/lib/app/app.db, app.db) or a file: URI"
    ]

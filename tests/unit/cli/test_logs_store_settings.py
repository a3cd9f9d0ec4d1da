"""Where `otelbundle logs` reads from. A log store behind basic authentication (Grafana
Cloud's Loki, a proxy in front of VictoriaLogs) is named as https://user:password@host:
the credentials go in an Authorization header, never into what `otelbundle logs` prints.
A misspelled OTELBUNDLE_LOG_STORE is refused, not ignored."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.parse

import pytest

from otelbundle import cli
from tests.unit.cli.test_logs import TRACE_ID, FakeLoki, closed_port, loki  # noqa: F401 - loki is a fixture

SECRET = "p@ss:w/rd"


def test_credentials_in_the_url_go_in_a_header_and_never_to_the_output(
    capsys: pytest.CaptureFixture[str],
    loki: FakeLoki,  # noqa: F811
) -> None:
    loki.answer("trace.json")
    host = loki.url.removeprefix("http://")
    url = f"http://reader:{urllib.parse.quote(SECRET, safe='')}@{host}"
    code = cli.main(["logs", "--trace-id", TRACE_ID, "--loki", url, "--since", "1h", "-v"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [(_, headers)] = loki.requests
    assert headers["authorization"] == "Basic " + base64.b64encode(f"reader:{SECRET}".encode()).decode()
    assert f"from Loki at http://reader:***@{host}" in err
    assert urllib.parse.quote(SECRET, safe="") not in out + err and SECRET not in out + err


def test_an_unreachable_store_is_named_without_its_password() -> None:
    url = f"http://reader:{urllib.parse.quote(SECRET, safe='')}@127.0.0.1:{closed_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "logs", "--trace-id", TRACE_ID],
        env={**os.environ, "OTELBUNDLE_VICTORIALOGS_URL": url, "OTELBUNDLE_LOG_STORE": "victorialogs"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert "cannot reach VictoriaLogs at http://reader:***@127.0.0.1:" in done.stderr
    assert "Connection refused" in done.stderr, done.stderr  # not "Name or service not known"
    assert urllib.parse.quote(SECRET, safe="") not in done.stderr


def test_a_misspelled_log_store_variable_is_a_usage_error_naming_it() -> None:
    """OTELBUNDLE_LOG_STORE=lokki was ignored: the command read VictoriaLogs instead."""
    done = subprocess.run(
        [sys.executable, "-m", "otelbundle.cli", "logs", "--trace-id", TRACE_ID],
        env={**os.environ, "OTELBUNDLE_LOG_STORE": "lokki"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert done.stderr == (
        "otelbundle logs: OTELBUNDLE_LOG_STORE='lokki' is not a log store; one of victorialogs, loki\n"
    )

"""The real stack on loopback for end-to-end tests, started once per session.

Binaries come from `make stack` (.ci/build-stack.sh). Without them the e2e
tests skip with the reason, except in CI (OTELBUNDLE_REQUIRE_STACK=1), where a
missing backend is a failure.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.apps import ExampleServices, clean_env, start_examples
from otelbundle.cli.backends import Backends
from otelbundle.cli.stack import Stack, StackError

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    running = Stack(data_dir=data_dir, config_root=ROOT, say=lambda line: print(line, flush=True))
    missing = running.missing_binaries()
    if missing:
        reason = "backends not built: " + ", ".join(c.name for c in missing) + " (run `make stack`)"
        if os.environ.get("OTELBUNDLE_REQUIRE_STACK") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        running.up(timeout=120)
    except StackError as exc:
        running.down()
        pytest.fail(f"stack did not come up: {exc}")
    yield running
    running.down()


@pytest.fixture(scope="session")
def backends(stack: Stack) -> Backends:
    return Backends()


@pytest.fixture(scope="session")
def services(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServices]:
    env = clean_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "2000",
        }
    )
    running = start_examples(env, tmp_path_factory.mktemp("e2e-apps"))
    yield running
    running.stop()


@dataclass(frozen=True)
class Checkout:
    trace_id: str
    status: int


def checkout(services: ExampleServices, sku: str = "APPLE") -> Checkout:
    trace_id = secrets.token_hex(16)
    request = urllib.request.Request(
        f"{services.storefront_url}/checkout",
        data=json.dumps({"sku": sku, "qty": 1}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Checkout(trace_id, int(response.status))
    except urllib.error.HTTPError as exc:
        return Checkout(trace_id, int(exc.code))

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.http_sink import Sink
from harness.otlp_receiver import OtlpReceiver


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """An HTTP sink on loopback recording the JSON bodies notifiers POST."""
    server = Sink()
    yield server
    server.close()

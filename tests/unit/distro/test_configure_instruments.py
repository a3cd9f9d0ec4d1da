"""configure() loads instrumentations as the wrapper does: one whose library is missing is
skipped without a warning (the wrapper says nothing either); a real failure is still said."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint

import pytest

from otelbundle.distro import api

GROUP = "opentelemetry_instrumentor"


def test_an_instrumentation_whose_library_is_missing_is_skipped_quietly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = EntryPoint("ghost", "otelbundle_no_such_library_anywhere:Instrumentor", GROUP)
    broken = EntryPoint("broken", "otelbundle.distro.api:NoSuchInstrumentor", GROUP)
    monkeypatch.setattr(api, "entry_points", lambda group: [missing, broken])
    monkeypatch.setattr(api.correlation, "after_instrumentation", lambda: None)
    with caplog.at_level(logging.DEBUG, logger="otelbundle"):
        assert api._instrument(True) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "'broken' not loaded" in warnings[0], warnings
    assert any("'ghost' skipped" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)

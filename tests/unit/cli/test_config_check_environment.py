"""``otelbundle config check`` also says which OTEL_*/OTELBUNDLE_* values of the shell an app
started there would refuse, as warnings: the exit status stays the file's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OTELBUNDLE = str(Path(sys.executable).with_name("otelbundle"))


def _check(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELBUNDLE_"))}
    return subprocess.run(
        [OTELBUNDLE, "config", "check", "otelbundle.yaml"],
        cwd=folder,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_value_the_app_would_refuse_is_a_warning_and_the_file_still_decides(tmp_path: Path) -> None:
    """Before, `OTELBUNDLE_SCRUB=maybe` printed SUCCESS alone, while the app said at start that it
    ignored the value."""
    (tmp_path / "otelbundle.yaml").write_text("scrub: {}\n")
    result = _check(tmp_path, OTELBUNDLE_SCRUB="maybe", OTEL_BSP_SCHEDULE_DELAY="5s")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "otelbundle.yaml: SUCCESS: scrubbing on\n"
    assert result.stderr.splitlines() == [
        "environment: warning: OTEL_BSP_SCHEDULE_DELAY='5s' is not an integer; ignoring it.",
        "environment: warning: OTELBUNDLE_SCRUB='maybe' is not true or false; ignoring it.",
        "environment: 2 variable(s) of this shell that an app started here would not use as set; "
        "it says the same at start and runs on (its own environment may differ)",
    ]


def test_a_clean_environment_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "otelbundle.yaml").write_text("scrub: {}\n")
    result = _check(tmp_path, OTELBUNDLE_SCRUB="false")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "otelbundle.yaml: SUCCESS: scrubbing off\n"

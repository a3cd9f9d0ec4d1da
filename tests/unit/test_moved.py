"""Old import paths still work, loudly: a FutureWarning names the new path (otelbundle._moved)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

from otelbundle._moved import MOVED, new_name


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_warns_and_gives_the_new_module(old: str) -> None:
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    new = importlib.import_module(MOVED[old])
    assert [str(w.message).split(";")[0] for w in caught if w.category is FutureWarning] == [
        f"{old} moved to {MOVED[old]}"
    ]
    public = [name for name in dir(new) if not name.startswith("_")]
    assert public and all(getattr(module, name) is getattr(new, name) for name in public)


def test_the_documented_paths_are_among_them() -> None:
    """docs/frameworks.md named these before they moved."""
    assert new_name("otelbundle.log_records") == "otelbundle.sdk.logs.records"
    assert new_name("otelbundle.logs") == "otelbundle.sdk.logs.correlation"
    assert new_name("otelbundle.alerting.notify.metrics") == "otelbundle.alerting.telemetry"


def test_a_submodule_of_a_moved_package_moves_with_it() -> None:
    assert new_name("otelbundle.stack.runner") == "otelbundle.cli.stack.runner"
    with pytest.warns(FutureWarning, match="otelbundle.stack.components moved to otelbundle.cli.stack"):
        from otelbundle.stack.components import find_config_root  # type: ignore[import-not-found]
    from otelbundle.cli.stack.components import find_config_root as new

    assert find_config_root is new


def test_the_warning_is_shown_by_default() -> None:
    """FutureWarning, unlike DeprecationWarning, is shown to a user running a plain script."""
    result = subprocess.run(
        [sys.executable, "-c", "from otelbundle.settings import config_path"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "otelbundle.settings moved to otelbundle.config.environment" in result.stderr


def test_current_paths_are_not_redirected() -> None:
    assert all(new_name(name) is None for name in ("otelbundle.config.environment", "otelbundle.cli.logs"))

"""DJANGO_SETTINGS_MODULE is read from the file the command runs, before the instrumentations load."""

from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.config.django_settings import settings_from_app
from otelbundle.distro.defaults import apply_defaults

WSGI = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mysite").mkdir()
    (tmp_path / "mysite" / "wsgi.py").write_text(WSGI)
    (tmp_path / "mysite" / "asgi.py").write_text(WSGI.replace('"', "'"))  # older projects quote so
    (tmp_path / "manage.py").write_text(WSGI.replace("mysite.settings", "mysite.settings_dev"))
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/bin/gunicorn", "-w", "2", "-b", "localhost:8000", "mysite.wsgi"], "mysite.settings"),
        (["gunicorn", "mysite.wsgi:application"], "mysite.settings"),
        (["uvicorn", "--workers", "2", "mysite.asgi:application"], "mysite.settings"),
        (["manage.py", "runserver"], "mysite.settings_dev"),
        (["gunicorn", "other.wsgi"], None),  # no such file: nothing guessed
        (["python", "mysite/wsgi.py"], None),  # not a command that serves a module
    ],
)
def test_the_value_comes_from_the_app_s_own_setdefault(
    project: Path, argv: list[str], expected: str | None
) -> None:
    found = settings_from_app(argv, str(project))
    assert (found[0] if found else None) == expected


def test_a_module_on_pythonpath_is_found_too(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("cwd")
    assert settings_from_app(["gunicorn", "mysite.wsgi"], str(elsewhere)) is None
    found = settings_from_app(["gunicorn", "mysite.wsgi"], str(elsewhere), f"/nowhere:{project}")
    assert found == ("mysite.settings", str(project / "mysite" / "wsgi.py"))


def test_apply_defaults_sets_it_only_when_unset(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    env: dict[str, str] = {"OTEL_SERVICE_NAME": "shop"}
    assert apply_defaults(env, ["gunicorn", "mysite.wsgi"]) == []  # said nowhere: it is the app's own value
    assert env["DJANGO_SETTINGS_MODULE"] == "mysite.settings"
    mine = {"OTEL_SERVICE_NAME": "shop", "DJANGO_SETTINGS_MODULE": "mysite.settings_prod"}
    apply_defaults(mine, ["gunicorn", "mysite.wsgi"])
    assert mine["DJANGO_SETTINGS_MODULE"] == "mysite.settings_prod"

"""``DJANGO_SETTINGS_MODULE`` before the instrumentations load, taken from the app's own file.

The contrib Django instrumentation reads ``settings.MIDDLEWARE`` when it loads, before the
app's ``manage.py``, ``wsgi.py`` or ``asgi.py`` runs its
``os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)``. Without the variable it configures
Django's empty defaults, and the project's settings never load: ``runserver`` stops on
``ALLOWED_HOSTS`` and ``gunicorn mysite.wsgi`` answers every request with 500. The value is read
from that very ``setdefault`` line of the file the command runs, so it is the one the app would
have set a moment later; nothing is guessed.
"""

from __future__ import annotations

import os
import re

_SETDEFAULT = re.compile(
    r"""os\.environ\.setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([A-Za-z_][\w.]*)["']\s*\)"""
)
# A module to serve, as gunicorn/uvicorn/daphne/hypercorn take it: `mysite.wsgi`, `mysite.asgi:application`.
_TARGET = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?::\S+)?")
_SERVERS = ("gunicorn", "uvicorn", "daphne", "hypercorn")
_MAX_BYTES = 64 * 1024  # a manage.py or wsgi.py is a few hundred bytes; never read a large file


def settings_from_app(argv: list[str], cwd: str, pythonpath: str = "") -> tuple[str, str] | None:
    """(the settings module, the file that names it) for a Django command line, or None.

    A server's module is looked for where the server will import it from: the current
    directory (gunicorn and uvicorn put it first on sys.path) and ``PYTHONPATH``."""
    if not argv:
        return None
    program = os.path.basename(argv[0])
    files: list[str] = []
    if program == "manage.py":
        files.append(argv[0] if os.path.isabs(argv[0]) else os.path.join(cwd, argv[0]))
    elif program.startswith(_SERVERS):
        folders = [cwd, *(folder for folder in pythonpath.split(os.pathsep) if folder)]
        for arg in argv[1:]:
            match = _TARGET.fullmatch(arg)
            if match:
                files.extend(os.path.join(folder, *match[1].split(".")) + ".py" for folder in folders)
    for path in files:
        module = _setdefault_in(path)
        if module is not None:
            return module, path
    return None


def _setdefault_in(path: str) -> str | None:
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > _MAX_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as source:
            match = _SETDEFAULT.search(source.read())
    except OSError:
        return None
    return match[1] if match else None

"""otelbundle: an OpenTelemetry distribution for Python services.

Zero-code use: ``opentelemetry-instrument python app.py``. From code (gunicorn
``post_fork``, notebooks, tests): ``otelbundle.configure()``. The package's
rooms and what each may import: docs/architecture.md.

``configure`` and ``Handle`` are imported when first used (PEP 562): the
``otelbundle`` command imports this package too, and loading the SDK for it
made every command slower to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otelbundle import _moved
from otelbundle.version import __version__

if TYPE_CHECKING:
    from otelbundle.distro.api import Handle, configure

_moved.install()

__all__ = ["Handle", "__version__", "configure"]


def __getattr__(name: str) -> Any:
    if name in ("Handle", "configure"):
        from otelbundle.distro import api

        return getattr(api, name)
    raise AttributeError(f"module 'otelbundle' has no attribute {name!r}")

"""otelbundle: an OpenTelemetry distribution for Python services.

Zero-code use: ``opentelemetry-instrument python app.py``. From code (gunicorn
``post_fork``, notebooks, tests): ``otelbundle.configure()``. The package's
rooms and what each may import: docs/architecture.md.
"""

from otelbundle import _moved
from otelbundle.distro.api import Handle, configure
from otelbundle.version import __version__

_moved.install()

__all__ = ["Handle", "__version__", "configure"]

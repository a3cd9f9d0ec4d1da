"""otelbundle: an OpenTelemetry distribution for Python services.

Zero-code use: ``opentelemetry-instrument python app.py``. From code (gunicorn
``post_fork``, notebooks, tests): ``otelbundle.configure()``.
"""

from otelbundle.api import Handle, configure
from otelbundle.version import __version__

__all__ = ["Handle", "__version__", "configure"]

"""otelbundle: an OpenTelemetry distribution for Python services."""

from otelbundle.version import __version__

__all__ = ["__version__"]

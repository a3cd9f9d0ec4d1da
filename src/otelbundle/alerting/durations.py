"""Moved to :mod:`otelbundle.config.values` (one grammar for every section).

Kept as a re-export because alerting/predicates.py and alerting/templates.py
(owned elsewhere) still import from here.
"""

from otelbundle.config.values import DURATION_RE, format_duration, parse_duration, parse_number

__all__ = ["DURATION_RE", "format_duration", "parse_duration", "parse_number"]

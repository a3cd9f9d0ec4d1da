"""The SDK's warning about a malformed ``OTEL_EXPORTER_OTLP_HEADERS`` entry, without the entry.

``opentelemetry.util.re.parse_env_headers`` warns about an entry it cannot parse
by quoting it whole, and an entry of that variable is typically a credential
(``x-api-key:abc123`` with a colon instead of ``=``): the token went to stderr
once per exporter. A filter on that logger (the ``logging`` module's own hook)
replaces the quoted entry with where to look; the warning itself stays.
"""

from __future__ import annotations

import logging

HEADER_LOGGER = "opentelemetry.util.re"
REDACTED_WARNING = (
    "Header format invalid! An entry of OTEL_EXPORTER_OTLP_HEADERS (or a per-signal "
    "OTEL_EXPORTER_OTLP_*_HEADERS) is not a URL-encoded name=value pair and was left out; "
    "its text is not shown, as it may hold a credential"
)


class HeaderTextFilter(logging.Filter):
    """Keeps the SDK's header warnings, with the entry they quote taken out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg, record.args = REDACTED_WARNING, ()
        return True


_FILTER = HeaderTextFilter("otelbundle-headers")


def hide_header_values() -> None:
    """Install the filter (once; called before the exporters read their headers)."""
    logger = logging.getLogger(HEADER_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)

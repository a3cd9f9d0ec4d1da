"""A URL as a message may show it: what could hold a token replaced by a marker.

Export warnings (the endpoint) and notification errors (a webhook's redirect) name
URLs; either may carry credentials in its user-info or a signed query.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redacted_url(url: str, marker: str) -> str:
    """``url`` with its user-info and query replaced by ``marker`` and its fragment dropped;
    scheme, host, port and path stay."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{marker}@{host}" if "@" in parts.netloc else host
    return urlunsplit((parts.scheme, netloc, parts.path, marker if parts.query else "", ""))

"""Span and log record attributes as a plain dict, for looking up names they may lack.

The SDK's ``BoundedAttributes`` is a Python ``Mapping``: a name it lacks is
answered by raising and catching a ``KeyError`` in Python, for ``in`` and
``get`` alike: 0.28 µs a miss on a finished span's attributes, against 0.19 µs
for this copy of three of them (``dict()`` of the read-only proxy a span hands
out iterates it in Python: 0.72 µs). Code that asks for several names a record
or span may not have (the alert rules' fields, the injected correlation fields)
copies the attributes once instead.
"""

from __future__ import annotations

from collections.abc import Mapping


def plain_attributes(attributes: Mapping[str, object] | None) -> dict[str, object]:
    """A dict of ``attributes``: through ``copy()`` when the mapping has one that gives a dict
    (the SDK's BoundedAttributes, and a read-only proxy of it: one call, the copy in C), else by
    iterating it."""
    if not attributes:
        return {}
    copy = getattr(attributes, "copy", None)
    if copy is not None:
        copied = copy()
        if type(copied) is dict:
            return copied
    return dict(attributes)

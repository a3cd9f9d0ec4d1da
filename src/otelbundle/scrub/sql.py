"""SQL statements lose their literals: values inlined in a query (an email, a card number) are
data the application carries, not the query's shape."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from otelbundle.scrub.rules import SQL_SYSTEMS

# SQL literals recorded unparameterised. Python-only (the collector uses its
# redaction processor's SQL obfuscator for the same attributes).
_SQL_STRING = re.compile(r"'(?:[^']|'')*'")
_SQL_NUMBER = re.compile(r"(?<![\w$:@?.])(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?!\w)", re.ASCII)
HAS_LITERAL = re.compile(r"['0-9]")


def scrub_sql(statement: str) -> str:
    """String and numeric literals become ``?``; placeholders ($1, :name, %s, ?) and identifiers stay."""
    return _SQL_NUMBER.sub("?", _SQL_STRING.sub("?", statement))


def is_sql(attributes: Mapping[str, Any]) -> bool:
    system = attributes.get("db.system.name", attributes.get("db.system"))
    return isinstance(system, str) and system.lower() in SQL_SYSTEMS

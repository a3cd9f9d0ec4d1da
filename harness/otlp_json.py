"""OTLP/JSON request bodies (``Content-Type: application/json``) decoded into the proto messages.

The OTLP spec departs from protobuf's canonical JSON mapping in one place: trace
and span ids are hex strings, not base64. They are rewritten to base64 before
``json_format`` parses the rest (camelCase or snake_case keys, enums as ints or names).
"""

from __future__ import annotations

import base64
import json
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                base64.b64encode(bytes.fromhex(value)).decode()
                if key in _ID_KEYS and isinstance(value, str)
                else _hex_ids_to_base64(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def parse(body: bytes, message: M) -> M:
    """Fill ``message`` from an OTLP/JSON body; raises ValueError on anything malformed."""
    try:
        document = json.loads(body)
        json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
    except (json_format.ParseError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    return message


def dump(message: Message) -> bytes:
    text: str = json_format.MessageToJson(message)
    return text.encode()

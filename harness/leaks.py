"""Secrets for harness/programs/secrets_app.py, and the checks on what reached a backend."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

PROGRAM = Path(__file__).resolve().parent / "programs" / "secrets_app.py"

# What must survive scrubbing: parameter names, non-secret values, structure.
KEPT_IN_TRACES = (
    "api_key=REDACTED",
    "token=REDACTED",
    "page=2",
    "sort=token_count",
    "access_token=REDACTED",
    "fields=name",
    "/stock/3",
    "SELECT name FROM users WHERE name = ?",
)
KEPT_IN_LOGS = (
    "api_key=REDACTED",
    "token=REDACTED",
    "page=2",
    "sort=token_count",
    "connected with password=REDACTED",
    "access_token=REDACTED",
    "fields=name",
    "Traceback",
    "TLS reload failed; config was {",  # the key in it: test_scrubbing.py (quotes are escaped in JSON)
)


def make_secrets() -> dict[str, str]:
    """Fresh random secrets (24 hex digits, or the shape a token rule knows)."""
    plain = {
        name: secrets.token_hex(12)
        for name in ("api_key", "token", "bearer", "x_api_key", "password", "access_token", "sql_literal")
    }
    return plain | {
        "jwt": f"eyJ{secrets.token_hex(10)}.eyJ{secrets.token_hex(10)}.{secrets.token_hex(16)}",
        "aws_key": "AKIA" + secrets.token_hex(8).upper(),
        "github": "ghp_" + secrets.token_hex(18),
        # Two lines of a PEM private key's body (hex is inside base64's alphabet): the program
        # puts the whole key, armour and line breaks, in a span attribute and in a log line.
        "pem_key_line1": secrets.token_hex(32),
        "pem_key_line2": secrets.token_hex(32),
    }


def env_for(leaked: dict[str, str]) -> dict[str, str]:
    """Environment for the program: the secrets, and server/client header capture turned on."""
    return {
        "SECRETS": json.dumps(leaked),
        "OTEL_SERVICE_NAME": "secrets-app",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "authorization,x-api-key",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST": "authorization,x-api-key",
    }


def leaked_in(text: str, leaked: dict[str, str]) -> dict[str, str]:
    """The secrets (by name) whose value appears anywhere in ``text``."""
    return {name: value for name, value in leaked.items() if value in text}


def missing_from(text: str, kept: tuple[str, ...]) -> list[str]:
    return [item for item in kept if item not in text]

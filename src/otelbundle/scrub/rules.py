"""The scrubbing rules, in one place for the in-process scrubber and the collector.

The collector cannot import Python, so ``otel-collector/config.yaml`` carries
the same regular expressions as OTTL statements; ``tests/unit/scrub`` renders
each rule with :func:`ottl_string` and fails when the two differ. Patterns are
therefore written in the subset shared by Go's RE2 and Python's ``re``: no
look-around, no backreferences, flags only as a leading ``(?i)``. Replacements
use Go's ``${1}`` syntax; :attr:`Rule.python_replacement` translates it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = "REDACTED"
# What the collector's redaction processor writes for a credential-named key; kept identical.
KEY_MASK = "****"

# Query parameters whose value is a credential. The name stays, the value goes:
# `?api_key=abc&page=2` -> `?api_key=REDACTED&page=2`. Matched as the whole
# parameter name, case-insensitively, so `sort=token_count` or `monkey=1` stay.
PARAM_NAMES: tuple[str, ...] = (
    "access_key",
    "access_token",
    "api-key",
    "api_key",
    "apikey",
    "auth",
    "auth_token",
    "client_secret",
    "id_token",
    "jsessionid",
    "key",
    "passwd",
    "password",
    "private_key",
    "pwd",
    "refresh_token",
    "secret",
    "secret_key",
    "session_token",
    "sessionid",
    "sig",
    "signature",
    "token",
    "x-amz-credential",
    "x-amz-security-token",
    "x-amz-signature",
    "x-goog-credential",
    "x-goog-signature",
)

# Attribute keys whose whole value is a credential (captured auth headers,
# anything named like a password/secret/token/API key). Identical to the
# collector's `redaction.blocked_key_patterns`. The first: a key whose last
# dotted part names a credential header. The instrumentations capture headers
# as `http.request.header.<name>` with `-` written `_`
# (`http.request.header.proxy_authorization`, `http.response.header.set_cookie`);
# a map body or a nested `extra=` dict has them bare (`{"headers": {"Cookie": ...}}`).
KEY_PATTERNS: tuple[str, ...] = (
    "(?i)^(?:.*\\.)?(?:authorization|proxy[_-]authorization|cookie|set[_-]cookie|x[_-]api[_-]key)$",
    "(?i).*(password|passwd|secret|api[_.-]?key|token).*",
)
# Keys the patterns above would mask that hold no credential: the GenAI semantic conventions'
# token counts (`gen_ai.usage.input_tokens`, `gen_ai.request.max_tokens`), their metrics'
# `gen_ai.token.type` label, OpenInference's `llm.token_count.*`. Their values still go through the
# rules. Identical to the collector's `redaction.ignored_key_patterns`.
KEY_IGNORED_PATTERNS: tuple[str, ...] = (
    "(?i)^gen_ai\\.[a-z0-9_.]*tokens$",
    "(?i)^gen_ai\\.token\\.type$",
    "(?i)^llm\\.token_count\\.[a-z0-9_.]+$",
)

# In the process only (the collector's redaction masks by key whatever the value): a number under
# a credential-named key whose name says it is a count of tokens (`llm.usage.total_tokens`,
# `app.token_count`, `max_tokens`), unless it also names a password, secret or API key, and a
# bool under any credential-named key (`app.password_reset: True`), keep their values: neither
# can be a credential, and "****" broke the dashboards that sum them. Strings are masked.
KEY_COUNT_PATTERN = "(?i)tokens(?:$|[._])|token_?counts?(?:$|[._])"
KEY_NOT_A_COUNT_PATTERN = "(?i)passw(?:or)?d|secret|api[_.-]?key"

# Attributes holding a database statement: literals there become `?` (the
# collector's `redaction.db_sanitizer.sql.attributes`), for these db.system values.
DB_STATEMENT_KEYS: tuple[str, ...] = ("db.statement", "db.query.text")
SQL_SYSTEMS: frozenset[str] = frozenset({"other_sql", "mysql", "postgresql", "mariadb", "sqlite"})


_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def param_names_pattern(names: tuple[str, ...] | list[str]) -> str:
    """The query-credentials pattern for ``names`` (letters, digits, ``_ . -`` only: no escaping needed)."""
    # After `#` too: an OAuth implicit-flow redirect carries its token in the fragment
    # (`/callback#access_token=...`), as does a SPA's `/#/login?key=...`.
    return "(?i)((?:^|[?&;#])(?:" + _alternatives(names) + ")=)" + _PARAM_VALUE


def param_list_pattern(names: tuple[str, ...] | list[str]) -> str:
    """The first parameter of a query string written into text without its ``?``
    (``signed X-Amz-Signature=...&X-Amz-Credential=...``), after a space, a quote, an opening
    bracket or a comma: taken only when a ``&`` follows its value (a parameter list), so that
    prose such as ``cache key=user:42`` stays. The ``&`` is matched, and written back.

    The value cannot hold what may come before a name: from each of those the regex reads at
    most up to the next one, so the work stays linear (with ``(`` allowed in the value,
    ``(api_key=`` repeated took quadratic time)."""
    return "(?i)((?:[\\s\"'(\\[{,])(?:" + _alternatives(names) + ")=)[^&#;?\\s\"'<>(\\[{,]+&"


# A quoted value with a Python bytes or string prefix goes whole (`password=b'...'` at the start
# of a value: `[^...'...]+` took only the `b` and left the secret); else up to a separator.
_PARAM_VALUE = "(?:[bBrRuU]{0,2}(?:'[^'&#\\s]*'|\"[^\"&#\\s]*\")|[^&#;?\\s\"'<>]+)"


def _alternatives(names: tuple[str, ...] | list[str]) -> str:
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if bad:
        raise ValueError(f"parameter names may only contain letters, digits, '_', '.' and '-': {bad}")
    return "|".join(n.replace(".", "\\.") for n in names)


def name_gates(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The fewest lowercase substrings at least one of which every name contains."""
    lowered = sorted({n.lower() for n in names}, key=len)
    gates: list[str] = []
    for name in lowered:
        if not any(g in name for g in gates):
            gates.append(name)
    return tuple(gates)


@dataclass(frozen=True)
class Rule:
    """One value rule: every match of ``pattern`` becomes ``replacement`` (Go ``${n}`` syntax).

    ``gates`` (Python only, a speed-up): substrings of which any match must contain
    at least one. The scrubber looks for them, lowercased, in the lowercased value
    (for a case-sensitive rule a wider check than its own); a value containing none
    of them skips the regex. Empty: always run.
    """

    name: str
    pattern: str
    replacement: str
    why: str
    gates: tuple[str, ...] = ()

    @property
    def python_replacement(self) -> str:
        return re.sub(r"\$\{(\d+)\}", r"\\g<\1>", self.replacement)

    def compile(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.ASCII)


# Names whose value, written after them (`password=...`, `token: ...`), is a credential; also as
# a suffix (`db_password=`, `access_token:`).
_ASSIGNED = ("passwd", "password", "pwd", "secret", "token")
# API, access, secret and private keys (`AWS_SECRET_ACCESS_KEY=`, `x-api-key: `, `"apiKey": ...`).
_KEY_NAMES = "(?:api|access|secret|private)[_-]?key"
_KEY_GATES = tuple(
    f"{kind}{sep}key" for kind in ("api", "access", "secret", "private") for sep in ("", "_", "-")
)

# Between a name and its value: at most 16 whitespace characters on either side of the `=` or
# `:`. Python's re backtracks: with `\s*[=:\s]\s*` it split one run of whitespace after
# `pwd` every way it could (40 000 spaces: 14.8 s, every app thread frozen); a bounded run
# costs at most 17 x 17 steps wherever a name is followed by whitespace.
_WS = "\\s{0,16}"
# A quoted value: '...', "...", or \"...\" (JSON written into a JSON string: the escaped
# quotes of `{"msg": "body was {\"password\": \"x\"}"}`). Group 2 holds the backslash of
# the escaped form, so that the replacement writes its quotes the same way.
_QUOTED = '(?:"[^"]*"|\'[^\']*\'|(\\\\)"[^"]*\\\\")'
_QUOTED_MARKER = f'${{1}}${{2}}"{MARKER}${{2}}"'

# A PEM private key's armour (PKCS#1/#8, OpenSSH, EC, encrypted; PGP's "... KEY BLOCK").
_PEM_BEGIN = "-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?:[ ]BLOCK)?-----"
_PEM_END = "-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?:[ ]BLOCK)?-----"

RULES: tuple[Rule, ...] = (
    # First: a later rule would take `private_key=-----BEGIN` up to the space in "BEGIN RSA",
    # and the key, no longer between its lines, would pass the rules below untouched.
    Rule(
        "private-key",
        # The body: anything without `--` in it, so it ends at the next armour line (`[^-]*`, then
        # `-` and a character that is not one, and so on): each character can be taken one way
        # only. `[\s\S]*?` looked for an END line from every BEGIN line to the end of the value,
        # 5000 BEGIN lines (140 kB) took 7.6 s.
        _PEM_BEGIN + "[^-]*(?:-[^-][^-]*)*" + _PEM_END,
        MARKER,
        "a PEM private key, armour lines included, wherever it appears (a config dumped into a log line, "
        "an SSL error); its lines may be real line breaks or the \\n of a repr or JSON. A body with `--` "
        "in it is the next rule's",
        gates=("private key",),
    ),
    Rule(
        "private-key-cut",
        _PEM_BEGIN + "[A-Za-z0-9+/=\\s\\\\:,.-]*",
        MARKER,
        "a PEM private key cut before its END line (an attribute length limit, a cut log line): "
        "from its BEGIN line over what can be part of one (base64, line breaks, armour headers such as "
        "'Version: GnuPG v2'), so words after it up to a quote or bracket go too: more than the key, never less",
        gates=("private key",),
    ),
    Rule(
        "url-userinfo",
        "://[^/\\s]+@",
        f"://{MARKER}@",
        "credentials in URL user-info (https://user:secret@host), up to the last '@' before the path "
        "(a password with an unencoded '@': postgresql://app:p@ss@db/shop); the host and path stay",
        gates=("@",),
    ),
    Rule(
        "query-credentials",
        param_names_pattern(PARAM_NAMES),
        f"${{1}}{MARKER}",
        "credential query parameters (PARAM_NAMES) keep their name and lose their value, in any URL or text",
        gates=name_gates(PARAM_NAMES),
    ),
    Rule(
        "query-list",
        param_list_pattern(PARAM_NAMES),
        f"${{1}}{MARKER}&",
        "the first parameter of a query string written into text without its '?' "
        "(`signed X-Amz-Signature=...&X-Amz-Credential=...`), when a '&' follows its value",
        gates=name_gates(PARAM_NAMES),
    ),
    Rule(
        "quoted-assignments",
        # The value may carry a Python bytes or string prefix (`db_password=b'...'`); it goes with it.
        # After `=` or `:`; after whitespace alone only in SQL's forms (PASSWORD 'x', IDENTIFIED BY
        # 'x'): `Unexpected token '<'` and `secret 'db-credentials' not found` are error messages.
        "(?i)((?:(?:password|passwd|pwd|secret|token|" + _KEY_NAMES + ")"
        "\\\\?[\"']?" + _WS + "[=:]|password|passwd|identified\\s{1,16}by)" + _WS + ")[bru]{0,2}" + _QUOTED,
        _QUOTED_MARKER,
        "'password': 'x y', \"client_secret\": \"...\", api_key='...', db_password=b'...' (dict and "
        "object reprs, keyword arguments, JSON, also JSON inside a JSON string) and SQL (PASSWORD 'x', "
        "IDENTIFIED BY 'x': a statement quoted in an error) in free text; the whole quoted value",
        gates=(*_ASSIGNED, *_KEY_GATES, "identified"),
    ),
    Rule(
        "quoted-keys",
        # At most 80 name characters on either side of the credential word: unbounded, `"` followed
        # by `token` 8000 times took the regex quadratic time.
        "(?i)([\"'][A-Za-z0-9_.-]{0,80}(?:password|passwd|pwd|secret|token|" + _KEY_NAMES + "|cookie)"
        "[A-Za-z0-9_.-]{0,80}\\\\?[\"'][=:]" + _WS + ")" + _QUOTED,
        _QUOTED_MARKER,
        'a quoted value under a quoted key named like a credential anywhere in its name ("apiKey": "...", '
        "'secret_code': '...', 'Cookie': '...'): a dict repr or JSON in free text",
        gates=("':", '":', "'=", '"='),
    ),
    Rule(
        "assignments",
        "(?i)((?:password|passwd|pwd|secret|token)[\"']?" + _WS + "[=:]" + _WS + ")[^\\s\"'&,;]+",
        f"${{1}}{MARKER}",
        "password=..., secret: ... (also as a suffix: db_password=, access_token:) in free text",
        gates=_ASSIGNED,
    ),
    Rule(
        "key-assignments",
        # Not right after ? & ; (there query-credentials takes the value up to a #fragment). At the
        # start of the value (`Api-Key: ...` on its own) and after a bracket or comma (`Client(api_key=...)`).
        "(?i)((?:^|[\\s\"'_.,(\\[{-])" + _KEY_NAMES + "[\"']?" + _WS + "[=:]" + _WS + ")[^\\s\"'&,;]+",
        f"${{1}}{MARKER}",
        "api_key: ..., X-Api-Key: ..., AWS_SECRET_ACCESS_KEY=..., private_key=... in free text",
        gates=_KEY_GATES,
    ),
    Rule(
        "account-keys",
        # Case-sensitive: the CamelCase spelling of connection strings and SDK reprs; the
        # snake_case ones (`aws_secret_access_key=`) are key-assignments' above.
        "((?:Account|SharedAccess|SecretAccess)Key" + _WS + "[=:]" + _WS + ")[^\\s\"';,&)]+",
        f"${{1}}{MARKER}",
        "Azure storage and Service Bus connection strings (AccountKey=...;, SharedAccessKey=...;) "
        "and AWS credentials written by an SDK (SecretAccessKey=...): the name stays, the value goes up to ';'",
        gates=("accountkey", "accesskey"),
    ),
    Rule(
        "cookie-header",
        "(?i)((?:^|[^A-Za-z0-9_-])(?:set-)?cookie:[ \\t]{0,16})[^\\r\\n\"']+",
        f"${{1}}{MARKER}",
        "a Cookie or Set-Cookie header written into text (a logged request or response): "
        "every cookie in it, up to the end of the line or a quote",
        gates=("cookie:",),
    ),
    Rule(
        "authorization",
        "(?i)(authorization[\"']?"
        + _WS
        + "[=:]"
        + _WS
        + "[\"']?(?:[a-z][a-z0-9._-]{0,30}[ \\t]{1,16})?"  # the scheme ends on its line
        + ")[^\\s\"',;]+",
        f"${{1}}{MARKER}",
        "an Authorization header written into text (a logged request, a curl command): the "
        "credential after any scheme (Basic, Bearer, Negotiate, NTLM, a vendor's), or the "
        "value itself when there is no scheme",
        gates=("authorization",),
    ),
    Rule(
        "bearer",
        "(?i)(\\bbearer\\s{1,16})[A-Za-z0-9._~+/-]{8,}=*",
        f"${{1}}{MARKER}",
        "a bearer token anywhere in text; 8+ characters so prose ('bearer token expired') stays",
        gates=("bearer",),
    ),
    Rule(
        "basic",
        # The credentials, as they are encoded: base64 of `user:password`, so a whole number of
        # 4-character groups (padding included), 12 or more, with an upper-case letter, a digit,
        # '+' or '/' among the first 12 (`dXNlcjpwYXNz`), and not followed by more of them. So
        # that prose and names after "basic" stay: 'Basic authentication failed', 'basic
        # requirements' (12 lower-case letters), 'Basic HTTPServer', 'basic /var/lib/app/data'.
        "(\\b(?i:basic)[ \\t]{1,16})(?:"
        + "|".join(f"[a-z]{{{k}}}[A-Z0-9+/][A-Za-z0-9+/]{{{11 - k}}}" for k in range(12))
        + ")(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?([^A-Za-z0-9+/=]|$)",
        f"${{1}}{MARKER}${{2}}",
        "HTTP Basic credentials anywhere in text: a header pair written by a repr "
        "(`(b'authorization', b'Basic dXNl...')`), an ASGI scope or a curl command",
        gates=("basic",),
    ),
    Rule(
        "token-shapes",
        # A JWT after a character that cannot be part of one (or a %XX escape): from inside a
        # run of them the regex tried every `eyJ` to the end of the run (quadratic time).
        "(^|[^A-Za-z0-9_-]|%[0-9A-Fa-f]{2})eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]*"
        "|\\b(?:AKIA|ASIA)[A-Z0-9]{16}\\b"
        "|\\bgh[pousr]_[A-Za-z0-9]{36,}\\b"
        "|\\bgithub_pat_[A-Za-z0-9_]{22,}\\b"
        "|\\bxox[abposre]-[A-Za-z0-9-]{10,}"
        "|\\bxapp-[A-Za-z0-9-]{10,}",
        f"${{1}}{MARKER}",
        "tokens recognisable by shape wherever they appear: JWTs, AWS access key ids, GitHub and Slack tokens",
        gates=("eyJ", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "xapp-"),
    ),
    # A rule of its own, not more alternatives of token-shapes: each has its own gates, so a
    # value with one prefix runs one alternation.
    Rule(
        "vendor-tokens",
        "\\bglpat-[A-Za-z0-9_-]{20,}"
        "|\\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}"
        "|\\bwhsec_[A-Za-z0-9+/=]{20,}"
        "|\\bAIza[A-Za-z0-9_-]{35}"
        "|\\bnpm_[A-Za-z0-9]{36}\\b"
        "|\\bpypi-AgE[A-Za-z0-9_-]{50,}"
        "|\\bSG\\.[A-Za-z0-9_-]{16,}\\.[A-Za-z0-9_-]{16,}"
        "|\\bsk-(?:proj|svcacct|admin|ant)-[A-Za-z0-9_-]{20,}"
        "|\\bsk-[A-Za-z0-9]{32,}",
        MARKER,
        "API keys recognisable by their vendor's prefix: GitLab (glpat-), Stripe (sk_live_, rk_live_, "
        "sk_test_, whsec_), Google (AIza), npm (npm_), PyPI (pypi-AgE), SendGrid (SG.x.y), "
        "OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)",
        gates=("glpat-", "k_live_", "k_test_", "whsec_", "aiza", "npm_", "pypi-age", "sg.", "sk-"),
    ),
    Rule(
        "webhook-urls",
        "(hooks\\.slack\\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+",
        f"${{1}}{MARKER}",
        "a Slack incoming-webhook URL: its path is the credential (anyone holding it can post)",
        gates=("hooks.slack.com/",),
    ),
    # Last, so the rules above have had the value (a Basic or Bearer credential) first.
    Rule(
        "header-pairs",
        "(?i)([(\\[]\\s{0,16}b?['\"][A-Za-z0-9_.-]{0,40}"
        "(?:authorization|cookie|passwd|password|secret|token|api[_.-]?key)[A-Za-z0-9_.-]{0,40}['\"]"
        "\\s{0,16},\\s{0,16})[bru]{0,2}(?:'[^']*'|\"[^\"]*\")",
        f'${{1}}"{MARKER}"',
        "a (name, value) pair named like a credential written into text: the repr of an ASGI scope's "
        "headers or of parse_qsl's list in a log line (`[(b'x-api-key', b'...')]`, `('cookie', '...')`)",
        gates=("authorization", "cookie", *_ASSIGNED, *_KEY_GATES),
    ),
)


def ottl_string(text: str) -> str:
    """``text`` as an OTTL string literal inside the collector's config file.

    OTTL unescapes ``\\\\`` and ``\\"``; the collector's config loader turns ``$$`` into ``$``.
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$") + '"'

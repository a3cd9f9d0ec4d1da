"""Each rule: what it catches, and what it must leave alone."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otelbundle.scrub import Scrubber, scrub_sql
from otelbundle.scrub.rules import PARAM_NAMES, RULES, param_names_pattern

SCRUB = Scrubber()

_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8Pb\naFDrBz9vFqU4yVGa+9xhpPOm+Ec=\n-----END RSA PRIVATE KEY-----"

CAUGHT = [
    # query-credentials: every name in the list, any case, name kept
    *[
        (f"https://h/p?{name}=s3cr3tvalue&page=2", f"https://h/p?{name}=REDACTED&page=2")
        for name in PARAM_NAMES
    ],
    ("/stock/3?API_KEY=abc&Token=def", "/stock/3?API_KEY=REDACTED&Token=REDACTED"),
    ("api_key=abc&page=2", "api_key=REDACTED&page=2"),  # url.query has no leading '?'
    ("/a;jsessionid=ABC123?x=1", "/a;jsessionid=REDACTED?x=1"),
    (
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=abcdef&X-Amz-Expires=60",
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=60",
    ),
    ("see http://h/x?api_key=abc#frag", "see http://h/x?api_key=REDACTED#frag"),
    # assignments in free text
    ("connected with password=hunter2 ok", "connected with password=REDACTED ok"),
    ("db_password: hunter2", "db_password: REDACTED"),
    ("{'password': 'hunter 2', 'user': 'bob'}", "{'password': \"REDACTED\", 'user': 'bob'}"),
    ('{"client_secret": "x y z"}', '{"client_secret": "REDACTED"}'),
    ("login passwd=abc, next", "login passwd=REDACTED, next"),
    ("csrf_token=abc123", "csrf_token=REDACTED"),
    # authorization / bearer
    ("Authorization: Bearer abcdefghijkl", "Authorization: Bearer REDACTED"),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNz'", "curl -H 'Authorization: Basic REDACTED'"),
    ("authorization=abcdef", "authorization=REDACTED"),
    ("sent bearer eyJhbGciOi.abc.def", "sent bearer REDACTED"),
    ("Bearer abcdefgh1234==", "Bearer REDACTED"),
    # token shapes
    ("key AKIAIOSFODNN7EXAMPLE here", "key REDACTED here"),
    ("sts ASIAIOSFODNN7EXAMPLE", "sts REDACTED"),
    ("tok ghp_" + "a1" * 18, "tok REDACTED"),
    ("tok gho_" + "B2" * 20 + ".", "tok REDACTED."),
    ("github_pat_" + "x" * 30, "REDACTED"),
    ("slack xoxb-123456789012-abcdef", "slack REDACTED"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig_abc-1", "jwt REDACTED"),
    # URL user-info
    ("https://user:pw@host/x", "https://REDACTED@host/x"),
    ("postgres://app:s3cret@db:5432/shop", "postgres://REDACTED@db:5432/shop"),
    ("postgresql://app:p@ss@w0rd@db/shop", "postgresql://REDACTED@db/shop"),  # '@' in the password
    ("redis://:pw@cache:6379/0", "redis://REDACTED@cache:6379/0"),
    # SQL quoted in free text (an error or a log line quoting the statement)
    ("CREATE USER bob WITH PASSWORD 'hunter2'", 'CREATE USER bob WITH PASSWORD "REDACTED"'),
    ("CREATE USER 'bob'@'%' IDENTIFIED BY 'hunter2'", "CREATE USER 'bob'@'%' IDENTIFIED BY \"REDACTED\""),
    # quoted keys named like a credential (dict reprs, JSON)
    ("{'user': 'bob', 'secret_code': 'x y'}", "{'user': 'bob', 'secret_code': \"REDACTED\"}"),
    ('{"apiKey": "abc", "page": "2"}', '{"apiKey": "REDACTED", "page": "2"}'),
    ("{'Cookie': 'sid=abc; theme=dark'}", "{'Cookie': \"REDACTED\"}"),
    # API, access, secret and private keys written into text
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG loaded", "AWS_SECRET_ACCESS_KEY=REDACTED loaded"),
    ("sent X-Api-Key: abc123", "sent X-Api-Key: REDACTED"),
    ("config private_key=abc, next", "config private_key=REDACTED, next"),
    # PEM private keys: whole, as a repr writes them (\\n), cut before their END line, and
    # after a key-assignment that would otherwise take only "-----BEGIN" up to its space
    (f"tls: {_PEM} loaded", "tls: REDACTED loaded"),
    (repr({"key": _PEM, "n": 1}), "{'key': 'REDACTED', 'n': 1}"),
    ("private_key=" + _PEM, "private_key=REDACTED"),
    ("cut: " + _PEM[:70] + "…", "cut: REDACTED…"),
    (f"x {_PEM.replace('RSA ', 'OPENSSH ')} y", "x REDACTED y"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\nlQOYBFk1 (cut)", "REDACTED(cut)"),
    (
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB\n\nMIIE",
        "REDACTED",
    ),
]

KEPT = [
    "GET /stock/3",
    "/stock/3?page=2&sort=token_count",
    "/search?q=password+reset&monkey=1&keyboard=us",  # names that only contain a listed name
    "/a?tokens=5&max_tokens=100&secretary=bob",
    "bearer token expired",  # prose: too short to be a token
    "AKIA is a prefix",
    "Authorization failed for user bob",
    "the secret of success",
    "http://h:8080/x",
    "user@example.com wrote",
    "eyJhbGciOiJIUzI1NiJ9 alone is not a JWT",
    "ghp_short",
    "/p?sort_key=name&cache_key=abc&key_count=3",
    "{'sort': 'token_count', 'max_tokens': 100}",
    "see https://h/p?email=bob@example.com",  # an '@' after the path is not user-info
    "identified by its id",
    "rotated the private key; -----BEGIN PUBLIC KEY----- stays",
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
]


@pytest.mark.parametrize(("text", "expected"), CAUGHT)
def test_rule_catches(text: str, expected: str) -> None:
    assert SCRUB.text(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_rule_leaves_alone(text: str) -> None:
    assert SCRUB.text(text) == text


def test_rules_are_idempotent() -> None:
    for text, expected in CAUGHT:
        assert SCRUB.text(expected) == expected, text


def test_every_pattern_is_in_the_subset_go_and_python_share() -> None:
    for rule in RULES:
        assert "(?<" not in rule.pattern and "(?=" not in rule.pattern and "(?!" not in rule.pattern, (
            rule.name
        )
        assert "(?i)" not in rule.pattern[1:] or rule.pattern.startswith("(?i)"), rule.name
        assert "$" not in rule.pattern, rule.name  # the collector's config would need $$


def test_parameter_names_are_validated() -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        param_names_pattern(["a|b"])


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "SELECT * FROM u WHERE name = 'bob''s' AND id = 42 AND score > 1.5e3",
            "SELECT * FROM u WHERE name = ? AND id = ? AND score > ?",
        ),
        (
            "UPDATE t1 SET v = 0xFF WHERE k = $1 AND j = :name AND x = %s AND y = ?",
            "UPDATE t1 SET v = ? WHERE k = $1 AND j = :name AND x = %s AND y = ?",
        ),
        ("INSERT INTO log2 (a) VALUES ('x')", "INSERT INTO log2 (a) VALUES (?)"),
    ],
)
def test_sql_literals_become_placeholders(statement: str, expected: str) -> None:
    assert scrub_sql(statement) == expected


_FRAGMENTS = [
    *PARAM_NAMES,
    "PASSWORD",
    "Token",
    "Authorization",
    "Bearer ",
    "bearer",
    "=",
    ": ",
    "?",
    "&",
    ";",
    "'",
    '"',
    " ",
    "://",
    "@",
    "abc123def",
    "AKIA",
    "ABCDEFGHIJKLMNOP",
    "ghp_",
    "xoxb-",
    "eyJ",
    "0123456789abcdef",
    ".",
    "http",
    "/stock/3",
    "identified by ",
    "cookie",
    "_",
    "AWS_SECRET_ACCESS_KEY",
    "apiKey",
    "private_key",
    ": ",
    "\n",
]


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=14).map("".join))
@settings(max_examples=400, deadline=None)
def test_the_speed_ups_never_skip_a_match(text: str) -> None:
    """Gates and the result cache give exactly what every regex applied in order gives."""
    expected = text
    for rule in RULES:
        expected = rule.compile().sub(rule.python_replacement, expected)
    assert Scrubber().text(text) == expected
    assert SCRUB.text(text) == expected  # a shared scrubber, its cache warm

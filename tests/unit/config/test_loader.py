from __future__ import annotations

from pathlib import Path

import pytest

from otelbundle.config import (
    ConfigError,
    Mark,
    YamlList,
    YamlMap,
    load_file,
    load_text,
    substitute_env,
    unknown_keys,
)
from otelbundle.config.loader import unset_env_problems


def test_positions_of_keys_values_and_items() -> None:
    doc = load_text("a:\n  b: 1\n  c: [x, y]\n", "f.yaml", env={})
    root = doc.root
    assert isinstance(root, YamlMap)
    inner = root["a"]
    assert inner.key_mark("c") == Mark("f.yaml", 3, 3)
    assert inner.value_mark("b") == Mark("f.yaml", 2, 6)
    items = inner["c"]
    assert isinstance(items, YamlList)
    assert items.item_mark(1) == Mark("f.yaml", 3, 10)
    assert inner["b"] == 1


def test_env_substitution_with_default_and_typing() -> None:
    env = {"PORT": "9093", "HOST": "am"}
    doc = load_text(
        'url: "http://${env:HOST}:${env:PORT}"\nport: ${env:PORT}\nx: ${env:NOPE:-fallback}\nq: "${env:PORT}"\n',
        "f.yaml",
        env=env,
    )
    assert doc.root["url"] == "http://am:9093"
    assert doc.root["port"] == 9093
    assert doc.root["x"] == "fallback"
    assert doc.root["q"] == "9093"  # quoted stays a string
    assert doc.missing_env == []


def test_missing_env_is_recorded_with_position() -> None:
    doc = load_text("slack:\n  webhook_url: ${env:SLACK_WEBHOOK_URL}\n", "n.yaml", env={})
    assert doc.root["slack"]["webhook_url"] == ""
    assert doc.missing_env == [("SLACK_WEBHOOK_URL", Mark("n.yaml", 2, 16))]


def test_env_value_cannot_inject_structure() -> None:
    doc = load_text("a: ${env:EVIL}\n", "f.yaml", env={"EVIL": "{b: 1}"})
    assert doc.root["a"] == "{b: 1}"


def test_dollar_escape() -> None:
    assert substitute_env("cost $$5 ${env:A}", {"A": "x"}) == ("cost $5 x", [])


@pytest.mark.parametrize(
    ("env", "text"),
    [
        ({"A": "set"}, "set"),  # a variable that is set wins over its default
        ({"A": ""}, "d"),  # an empty one gets the default, as unset does
        ({}, "d"),
    ],
)
def test_a_default_is_used_when_the_variable_is_unset_or_empty(env: dict[str, str], text: str) -> None:
    assert substitute_env("${env:A:-d}", env) == (text, [])


def test_an_empty_variable_without_a_default_is_empty_not_missing() -> None:
    """Only an unset variable switches its part off; ``A=`` is a value the user chose."""
    assert substitute_env("x${env:A}y", {"A": ""}) == ("xy", [])
    assert substitute_env("x${env:A}y", {}) == ("xy", ["A"])


def test_syntax_error_has_position() -> None:
    with pytest.raises(ConfigError) as caught:
        load_text("a: [1, 2\nb: 3\n", "bad.yaml", env={})
    text = str(caught.value)
    assert text.startswith("bad.yaml:") and "YAML syntax error" in text


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: {port: ${env:PORT}}\n", "f.yaml:1:12: "),
        ("a: [${env:A}, b]\n", "f.yaml:1:6: "),
    ],
)
def test_an_unquoted_reference_in_a_flow_collection_says_what_to_write(text: str, where: str) -> None:
    """``{port: ${env:PORT}}`` stopped the parser at the ``{`` with ``expected ',' or '}'``,
    which does not say the reference is the cause."""
    with pytest.raises(ConfigError) as caught:
        load_text(text, "f.yaml", env={"PORT": "1", "A": "x"})
    said = str(caught.value)
    assert said.startswith(where + "YAML syntax error: expected ','"), said
    assert said.endswith(
        ' (inside {...} or [...] a ${env:...} must be quoted, and is then read as text: "${env:URL}"; '
        "for a number or boolean write the mapping one key a line: port: ${env:PORT})"
    ), said


def test_a_syntax_error_elsewhere_gets_no_reference_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        load_text("a: {port: 1\n", "f.yaml", env={})
    assert "${env" not in str(caught.value)


def test_duplicate_key_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        load_text("a: 1\na: 2\n", "d.yaml", env={})
    assert str(caught.value) == "d.yaml:2:1: duplicate key 'a'"


def test_unreadable_file_names_path(tmp_path: pytest.TempPathFactory) -> None:
    missing = str(tmp_path) + "/nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_file(missing)
    assert str(caught.value).startswith(f"{missing}:1:1: cannot read file")


def test_a_byte_that_is_not_utf8_is_located_where_an_editor_shows_it(tmp_path: Path) -> None:
    path = tmp_path / "otelbundle.yaml"
    path.write_bytes("alerting:\n  # déjà vu\n  rule_files: [caf".encode() + b"\xe9.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_file(str(path))
    assert str(caught.value) == f"{path}:3:19: file is not UTF-8 text: byte 0xe9 (invalid continuation byte)"


def test_windows_line_ends_read_as_text_mode_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "otelbundle.yaml"
    path.write_bytes(b"health:\r\n  interval: 5s\r\n  note: |\r\n    two\r\n    lines\r\n")
    section = load_file(str(path)).root["health"]
    assert section["interval"] == "5s" and section["note"] == "two\nlines\n"
    assert section.value_mark("interval") == Mark(str(path), 2, 13)


def test_unknown_keys_suggests() -> None:
    doc = load_text("evaluaton_interval: 1s\n", "u.yaml", env={})
    problems = list(unknown_keys(doc.root, {"evaluation_interval", "rule_files"}, "alerting"))
    assert [str(p) for p in problems] == [
        "u.yaml:1:1: unknown key 'evaluaton_interval' in alerting (did you mean 'evaluation_interval'?)"
    ]


def test_an_env_value_that_is_not_written_as_a_number_stays_as_written() -> None:
    """YAML 1.1 would rewrite these: a version, a build number, a password, a header value."""
    env = {"V": "1.10", "B": "0123", "F": "on", "T": "12:30", "H": "0x1F", "E": "1e3", "N": "null"}
    doc = load_text("".join(f"{name.lower()}: ${{env:{name}}}\n" for name in env), "f.yaml", env=env)
    assert {name.upper(): value for name, value in doc.root.items()} == env


def test_an_env_value_written_as_a_number_or_boolean_takes_its_type() -> None:
    env = {"P": "8080", "R": "0.5", "M": "-1", "Y": "true", "Z": "False"}
    doc = load_text("".join(f"{name.lower()}: ${{env:{name}}}\n" for name in env), "f.yaml", env=env)
    assert doc.root == {"p": 8080, "r": 0.5, "m": -1, "y": True, "z": False}


def test_a_reference_in_shell_syntax_is_a_located_problem_not_text_sent_as_written(tmp_path: Path) -> None:
    """`${TOKEN}` (Compose, shells) is not read: without a problem `Bearer ${TOKEN}` went out as written."""
    from otelbundle.config.document import read_document
    from otelbundle.health.section import read_health_section

    path = tmp_path / "otelbundle.yaml"
    path.write_text(
        "health:\n"
        "  checks:\n"
        "    - name: inv\n"
        "      kind: http\n"
        "      url: ${INVENTORY_URL:-http://127.0.0.1:8001/healthz}\n"
        '      headers: {Authorization: "Bearer ${TOKEN}", X-Other: "${ env:KEY }"}\n'
    )
    _, problems = read_health_section(read_document(str(path), {"TOKEN": "t", "KEY": "k"}))
    assert [str(p).replace(str(path), "F") for p in problems] == [
        "F:5:12: '${INVENTORY_URL:-http://127.0.0.1:8001/healthz}' is not read as a variable: write "
        "${env:INVENTORY_URL:-http://127.0.0.1:8001/healthz} (only ${env:NAME} and ${env:NAME:-default} "
        "are; $${ is a literal ${)",
        "F:6:33: '${TOKEN}' is not read as a variable: write ${env:TOKEN} (only ${env:NAME} and "
        "${env:NAME:-default} are; $${ is a literal ${)",
        "F:6:61: '${ env:KEY }' is not read as a variable: write ${env:KEY} (only ${env:NAME} and "
        "${env:NAME:-default} are; $${ is a literal ${)",
        "F:5:12: url: expected an http:// or https:// URL, got "
        "'${INVENTORY_URL:-http://127.0.0.1:8001/healthz}'",
    ]


def test_what_is_not_taken_for_a_reference() -> None:
    doc = load_text(
        'a: "$${TOKEN} ${env:A}"\nb: "${{ $value }}"\nc: "x${1}"\nd: "$$"\n', "f.yaml", env={"A": "v"}
    )
    assert doc.root == {"a": "${TOKEN} v", "b": "${{ $value }}", "c": "x${1}", "d": "$"}
    assert (doc.root.from_env.get("a"), "b" in doc.root.from_env) == ((), False)


@pytest.mark.parametrize("ref", ["${env:1BAD}", "${env:A B}", "${env:}"])
def test_a_reference_whose_name_cannot_be_a_variable_says_what_a_name_is(ref: str) -> None:
    doc = load_text(f'a: "{ref}"\n', "f.yaml", env={})
    assert [str(p) for p in unset_env_problems(doc.root)] == [
        f"f.yaml:1:5: '{ref}' is not read as a variable: write ${{env:NAME}}, NAME of letters, digits and _ "
        "(only ${env:NAME} and ${env:NAME:-default} are; $${ is a literal ${)"
    ]


@pytest.mark.parametrize(
    ("ref", "fix"), [("${ENV:TOKEN}", "${env:TOKEN}"), ("${Env:URL:-http://x}", "${env:URL:-http://x}")]
)
def test_an_upper_case_env_scheme_is_a_located_problem_not_text_sent_as_written(ref: str, fix: str) -> None:
    """`Bearer ${ENV:TOKEN}` went out as written: the scheme is `env`, lower case, as in the collector."""
    doc = load_text(f'a: "Bearer {ref}"\n', "f.yaml", env={"TOKEN": "t", "URL": "u"})
    assert [str(p) for p in unset_env_problems(doc.root)] == [
        f"f.yaml:1:5: '{ref}' is not read as a variable: write {fix} "
        "(only ${env:NAME} and ${env:NAME:-default} are; $${ is a literal ${)"
    ]


def problems_of(path: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_file(path, env={})
    return [str(problem) for problem in caught.value.problems]


MAX_FILE_BYTES = 2 * 1024 * 1024  # the documented limit (docs/configuration.md)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    """A 50 MB file held the app's start ~30 s and took ~600 MB while PyYAML composed it."""
    at_limit = tmp_path / "at-limit.yaml"
    at_limit.write_text("a: 1\n" + "#" * (MAX_FILE_BYTES - 6) + "\n")
    assert load_file(str(at_limit), env={}).root == {"a": 1}
    over = tmp_path / "over.yaml"
    over.write_text("a: 1\n" + "#" * (MAX_FILE_BYTES - 5) + "\n")
    assert problems_of(str(over)) == [f"{over}:1:1: file is larger than 2 MiB; not read"]


def test_a_device_is_refused_unread() -> None:
    """A device is not a config file; ``/dev/zero`` never ends, and reading it filled memory."""
    assert problems_of("/dev/null") == ["/dev/null:1:1: cannot read file: not a regular file"]


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    found: list[list[str]] = []
    reader = threading.Thread(target=lambda: found.append(problems_of(str(fifo))), daemon=True)
    reader.start()
    reader.join(30.0)  # the old code blocked in open() until a writer came, i.e. forever
    if reader.is_alive():
        with open(fifo, "wb"):  # let the blocked open() return, so the thread ends
            pass
        pytest.fail("load_file waited for a writer on a FIFO")
    assert found == [[f"{fifo}:1:1: cannot read file: not a regular file"]]

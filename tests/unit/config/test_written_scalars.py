"""``YamlMap.written``: the text of a value YAML read as a number or boolean, for fields that take
text (alert labels and annotations), where Prometheus keeps the scalar as written."""

from __future__ import annotations

from otelbundle.config import YamlMap, load_text


def _root(text: str, env: dict[str, str] | None = None) -> YamlMap:
    root = load_text(text, "f.yaml", env=env or {}).root
    assert isinstance(root, YamlMap)
    return root


def test_a_number_or_boolean_keeps_its_text_beside_its_value() -> None:
    root = _root("a: 0x10\nb: 010\nc: yes\nd: 1_000\ne: .5\nf: 12:30\ng: -.inf\n")
    assert root["b"] == 8 and root["c"] is True  # the typed values are unchanged
    assert {key: root.written(key) for key in root} == {
        "a": "0x10",
        "b": "010",
        "c": "yes",
        "d": "1_000",
        "e": ".5",
        "f": "12:30",
        "g": "-.inf",
    }


def test_text_null_and_containers_have_no_written_text() -> None:
    root = _root("a: '0x10'\nb: text\nc: ~\nd: [1]\ne: {x: 1}\nf: 2024-01-02\n")
    assert [root.written(key) for key in root] == [None] * 6
    assert root.written("missing") is None


def test_merged_keys_keep_their_text() -> None:
    root = _root("base: &base {code: 010, page: yes}\nlabels: {<<: *base, page: on}\n")
    labels = root["labels"]
    assert (labels.written("code"), labels.written("page")) == ("010", "on")


def test_an_env_value_is_typed_only_when_its_text_round_trips() -> None:
    """So ``str()`` of it is its text, and it has no other written form."""
    root = _root("port: ${env:PORT}\n", {"PORT": "0x10"})
    assert root["port"] == "0x10" and root.written("port") is None

"""The routing keys every channel takes: ``name``, ``match`` and ``repeat_interval`` (not ``alertmanager``).

Read next to the channel's own keys (channels.py); a problem here, like any in a
channel, is located (``file:line:column``) and switches that channel off. A
matcher's problem points at the character it is about when the matcher sits on
one line of the file, else at the matcher's start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from otelbundle.alerting.notify.matchers import Matcher, MatcherError, parse_matchers
from otelbundle.alerting.notify.routing import default_repeat_interval
from otelbundle.config import ConfigProblem, Mark, Problems, YamlList, YamlMap, parse_duration

ROUTING_KEYS = frozenset({"name", "match", "repeat_interval"})
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# A firing alert's endsAt is only a few resend_delays ahead: the engine's re-sends renew it. Held
# back by a repeat_interval, they stop, Alertmanager resolves the alert (and says so) while it
# still fires, then fires it anew at the next repeat. Alertmanager repeats notifications itself.
_AM_REPEAT = (
    "{where}.repeat_interval: Alertmanager has its own repeat_interval in its route; this one "
    "would let alerts expire (Alertmanager resolves a firing alert whose re-sends stop): "
    "remove it and set repeat_interval in Alertmanager's route"
)


@dataclass(frozen=True)
class Routing:
    """``repeat_default``: ``repeat_interval`` was not written (``config check`` says so)."""

    name: str
    matchers: tuple[Matcher, ...] = ()
    repeat_interval: float = 0.0
    repeat_default: bool = False


class ChannelNames:
    """Names seen so far in one ``notify:`` section, to report a name used twice."""

    def __init__(self) -> None:
        self.seen: dict[str, Mark] = {}

    def claim(self, name: str, mark: Mark, problems: list[ConfigProblem]) -> bool:
        first = self.seen.get(name)
        if first is not None:
            problems.append(
                ConfigProblem(mark, f"channel name {name!r} is already used at {first}; names must be unique")
            )
            return False
        self.seen[name] = mark
        return True


def routing_of(
    config: YamlMap, kind: str, where: str, listed: bool, names: ChannelNames, problems: list[ConfigProblem]
) -> Routing | None:
    """The channel's routing, or None after adding its problems. In a list a channel must be
    named; a single mapping is named after its kind unless it says otherwise."""
    before = len(problems)
    name = kind
    mark = config.mark
    if "name" in config:
        mark = config.value_mark("name")
        value = config["name"]
        if not isinstance(value, str) or _CHANNEL_NAME.fullmatch(value) is None:
            problems.append(
                ConfigProblem(
                    mark, f"{where}.name {value!r} must be letters, digits, '_', '.' or '-' (at most 63)"
                )
            )
        else:
            name = value
    elif listed:
        problems.append(ConfigProblem(config.mark, f"{where} needs a name: each channel of a list is named"))
    if len(problems) == before:
        names.claim(name, mark, problems)
    matchers = _matchers(config, where, problems)
    # Alertmanager repeats by itself and needs every re-send (see _AM_REPEAT): no default there.
    repeat = Problems(problems).value(
        config,
        "repeat_interval",
        _repeat_interval,
        default_repeat_interval(kind),
        label=f"{where}.repeat_interval",
    )
    if kind == "alertmanager" and repeat > 0:
        problems.append(ConfigProblem(config.value_mark("repeat_interval"), _AM_REPEAT.format(where=where)))
    if len(problems) != before:
        return None
    return Routing(name, matchers, repeat, "repeat_interval" not in config)


def _repeat_interval(value: object) -> float:
    """A duration; ``0s`` is allowed and means every re-send (Alertmanager refuses 0: there a
    zero would repeat without end; here the engine's ``resend_delay`` still paces it)."""
    return parse_duration(value, allow_zero=True)


def _matchers(config: YamlMap, where: str, problems: list[ConfigProblem]) -> tuple[Matcher, ...]:
    if "match" not in config:
        return ()
    items = config["match"]
    if isinstance(items, str):  # one item written without the list
        return tuple(_parse(items, config.value_mark("match"), where, problems))
    if not isinstance(items, YamlList) or not all(isinstance(item, str) for item in items):
        problems.append(
            ConfigProblem(
                config.value_mark("match"),
                f"{where}.match must be a list of matchers, e.g. ['severity=\"critical\"', 'team=~\"shop|web\"']",
            )
        )
        return ()
    found: list[Matcher] = []
    for index, item in enumerate(items):
        found.extend(_parse(item, items.item_mark(index), where, problems))
    return tuple(found)


def _parse(text: str, mark: Mark, where: str, problems: list[ConfigProblem]) -> list[Matcher]:
    try:
        return parse_matchers(text)
    except MatcherError as exc:
        problems.append(ConfigProblem(_at(mark, text, exc.offset), f"{where}.match: {exc} in {text!r}"))
        return []


def _at(mark: Mark, text: str, offset: int) -> Mark:
    """The position of ``text[offset]`` in the file, when the scalar at ``mark`` is that text on one line."""
    try:
        with open(mark.file, encoding="utf-8") as handle:
            line = handle.read().splitlines()[mark.line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return mark
    start = mark.column - 1
    for quote in ("'", '"'):
        if line[start : start + 1] == quote and line[start + 1 : start + 1 + len(text)] == text:
            return Mark(mark.file, mark.line, mark.column + 1 + offset)
    if line[start : start + len(text)] == text:
        return Mark(mark.file, mark.line, mark.column + offset)
    return mark


def routes_of(section: YamlMap, kinds: Iterable[str]) -> tuple[list[Routing], list[ConfigProblem]]:
    """The routing of every channel of a ``notify:`` section, without building the channels
    (``rules test`` asks which channels an alert would go to; their URLs do not matter there)."""
    problems: list[ConfigProblem] = []
    names = ChannelNames()
    routes: list[Routing] = []
    for kind in kinds:
        value = section.get(kind)
        items = [value] if isinstance(value, YamlMap) else list(value) if isinstance(value, YamlList) else []
        listed = isinstance(value, YamlList)
        for index, config in enumerate(items):
            if isinstance(config, YamlMap):
                where = f"notify.{kind}[{index}]" if listed else f"notify.{kind}"
                routing = routing_of(config, kind, where, listed, names, problems)
                if routing is not None:
                    routes.append(routing)
    return routes, problems

"""Installing rules into the engine, at start and on every reload: what each rule keeps.

Prometheus splits this off its alerting rule too: ``Manager.Update`` swaps the
groups and ``Group.CopyState`` hands an unchanged rule's alerts to its successor.
Here an unchanged rule keeps its state, an edited one keeps what still holds of
it (:func:`_edited`), and a removed rule's alerts go (and its gauge entries).
A firing alert that goes is resolved once on the channels people read
(:func:`_forget_alerts`); a pending one was never sent and just goes. A rule
moved to another group (or its group renamed) is not removed: Prometheus keys state
by rule file and group, and its moved rule starts over, but it sends Alertmanager
nothing when the old group goes, so its receivers hear nothing of the move; here the
resolution would reach Slack and the others, then the same alert firing again. So a new rule takes over
the state of a rule of the same alert name that went (:func:`moved_rules`), as if
edited in place. The state machine that evaluates what is installed is engine.py's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from otelbundle.alerting.alert import ENDED_BY_RELOAD, Alert, AlertState
from otelbundle.alerting.exemplar_records import ExemplarRecords
from otelbundle.alerting.exemplar_spans import ExemplarSpans
from otelbundle.alerting.outgoing import ActiveAlert
from otelbundle.alerting.rules import Rule, same_windows
from otelbundle.alerting.section import AlertingConfig
from otelbundle.alerting.state import RuleState
from otelbundle.alerting.telemetry import AlertTelemetry

# Why a reload resolved a firing alert (Alert.ended_by_reload, and its annotation).
RULE_REMOVED = "rule removed by reload"
LABELS_CHANGED = "rule's labels changed by reload: the alert with the new labels is a new alert"
RULE_RESTARTED = (
    "rule changed by reload (the spans or records it reads, or what its windows keep of them): "
    "evaluated afresh, it fires again if its condition still holds"
)
WINDOWS_RESIZED = (
    "rule's windows changed by reload (their length, or an SLO's period): evaluated afresh, "
    "it fires again if its condition still holds"
)


class InstalledRules(Protocol):
    """The engine as a rule install sees it (the engine imports this module, not the reverse)."""

    config: AlertingConfig
    states: dict[tuple[str, str], RuleState]
    active: dict[tuple[str, str], dict[tuple[str, ...], ActiveAlert]]
    loaded_at: dict[tuple[str, str], float]
    telemetry: AlertTelemetry
    exemplar_spans: ExemplarSpans
    exemplar_records: ExemplarRecords

    def relabel(self, alert: ActiveAlert) -> None: ...
    def resolve(self, alert: ActiveAlert, now: float) -> Alert: ...


def install_rules(engine: InstalledRules, config: AlertingConfig, now: float) -> list[Alert]:
    """Install ``config``'s rules into ``engine``; returns the resolutions of the firing
    alerts the install ended, for the engine to send."""
    engine.config = config  # first: kept alerts are relabelled with its external labels
    states: dict[tuple[str, str], RuleState] = {}
    ended: list[Alert] = []
    moves = moved_rules(engine.states, config.rules)
    for rule in config.rules:
        ident = (rule.group, rule.name)
        if ident in moves:
            _move(engine, moves[ident], ident)
        old = engine.states.get(moves.get(ident, ident))
        unchanged = old is not None and _unchanged(old.rule, rule)
        if old is not None and unchanged and ident not in moves:
            states[ident] = old
            _relabel(engine, ident, old.rule)  # the same rule; the external labels may not be
        else:
            states[ident] = _edited(engine, old, rule, now, ended, unchanged)
    for ident in set(engine.active) - set(states):
        ended += _forget_alerts(engine, ident, now, RULE_REMOVED)
    for ident in set(engine.states) - set(states):
        engine.exemplar_records.forget(ident)
        engine.loaded_at.pop(ident, None)  # a rule added again is loaded afresh (_edited)
    engine.states = states
    return ended


def moved_rules(
    old_states: Mapping[tuple[str, str], RuleState], rules: Sequence[Rule]
) -> dict[tuple[str, str], tuple[str, str]]:
    """Which new rule takes over which old one's state: (group, alert) of the new rule -> of
    the old. Only a new rule whose (group, alert) did not exist before takes over, and only a
    rule that went, of the same alert name (its alerts' ``alertname``). Where several could,
    the likest pairs first (the same definition, then the same labels, then any), each in
    file order: the same reload gives the same pairs."""
    new_idents = {(rule.group, rule.name) for rule in rules}
    gone: dict[str, list[tuple[str, str]]] = {}  # alert name -> (group, alert) of the rules that went
    for ident in old_states:
        if ident not in new_idents:
            gone.setdefault(ident[1], []).append(ident)
    arrived = [rule for rule in rules if rule.name in gone and (rule.group, rule.name) not in old_states]
    likeness: list[Callable[[Rule, Rule], bool]] = [
        _unchanged,
        lambda old, new: old.labels == new.labels,
        lambda old, new: True,
    ]
    moves: dict[tuple[str, str], tuple[str, str]] = {}
    for alike in likeness:
        for rule in arrived:
            ident, candidates = (rule.group, rule.name), gone[rule.name]
            if ident in moves:
                continue
            taken = next((old for old in candidates if alike(old_states[old].rule, rule)), None)
            if taken is not None:
                moves[ident] = taken
                candidates.remove(taken)
    return moves


def _unchanged(old: Rule, new: Rule) -> bool:
    """The same definition (the group's name aside): its state holds as it is. The group's
    interval is the rule's too (its alerts' endsAt): a new one makes an edit in place."""
    return (
        old.source == new.source and old.max_group_keys == new.max_group_keys and old.interval == new.interval
    )


def _move(engine: InstalledRules, old: tuple[str, str], new: tuple[str, str]) -> None:
    """What the engine keeps under a moved rule's (group, alert) goes under its new one
    (its alerts, its gauge entries, its log records, when it was loaded); the rule's state
    is then kept or not as for an edit in place (:func:`_edited`)."""
    alerts = engine.active.pop(old, None)
    engine.telemetry.set_active(old, [])
    if alerts is not None:
        engine.active[new] = alerts
        engine.telemetry.set_active(
            new, [(a.labels, a.state) for a in alerts.values() if a.state is not AlertState.INACTIVE]
        )
    if old in engine.loaded_at:
        engine.loaded_at[new] = engine.loaded_at.pop(old)
    engine.exemplar_records.rename(old, new)


def _edited(
    engine: InstalledRules,
    old: RuleState | None,
    rule: Rule,
    now: float,
    ended: list[Alert],
    unchanged: bool = False,
) -> RuleState:
    """The state of a new, edited or moved rule. It keeps ``old``'s windows when the same
    spans still enter them (``unchanged``: moved only; rules.same_windows: an annotation,
    ``expr`` or ``for`` edited, or an SLO's objective), and then, as Prometheus' ``Group.CopyState`` does, its
    alerts when its labels are unchanged. Without the windows it starts afresh: a kept
    alert could only resolve at the next tick, a false all-clear (Prometheus would still
    have the series). The resolutions of the firing alerts it drops are added to ``ended``."""
    ident = (rule.group, rule.name)
    state = RuleState(rule)
    state.exemplar_sink = engine.exemplar_spans.offer
    if old is None or not (unchanged or same_windows(old.rule, rule)):
        engine.loaded_at[ident] = now
        engine.exemplar_records.forget(ident)
        reason = WINDOWS_RESIZED if old is not None and old.rule.lengths != rule.lengths else RULE_RESTARTED
        ended += _forget_alerts(engine, ident, now, reason)
        return state
    state.take_windows(old)
    if old.rule.labels != rule.labels:  # Prometheus keeps alerts by rule name and labels
        ended += _forget_alerts(engine, ident, now, LABELS_CHANGED)
        return state
    _relabel(engine, ident, rule)
    return state


def _relabel(engine: InstalledRules, ident: tuple[str, str], rule: Rule) -> None:
    """Kept alerts take the new rule and the labels it and the new config give them. Prometheus
    adds external labels as it sends, so they are the new ones at once there too; the labels
    the alert had before are expired by Alertmanager at their ``endsAt``."""
    for alert in engine.active.get(ident, {}).values():
        alert.rule = rule
        engine.relabel(alert)


def _forget_alerts(engine: InstalledRules, ident: tuple[str, str], now: float, reason: str) -> list[Alert]:
    """Drop the rule's alerts; returns the resolution of each firing one, saying ``reason``.

    Nothing would tell a chat channel otherwise: the rule is no longer evaluated, so its
    alert would stay firing there for ever (Alertmanager expires it at its ``endsAt``)."""
    alerts = engine.active.pop(ident, None)
    if alerts is None:
        return []
    engine.telemetry.set_active(ident, [])
    ended: list[Alert] = []
    said: set[frozenset[tuple[str, str]]] = set()  # one resolution per label set (outgoing.speaker)
    for alert in alerts.values():
        if alert.state is not AlertState.FIRING:  # pending: never sent; inactive: resolution sent
            continue
        resolved = engine.resolve(alert, now)
        labels = frozenset(resolved.labels.items())
        if labels in said:
            continue
        said.add(labels)
        annotations = {**resolved.annotations, ENDED_BY_RELOAD: reason}
        ended.append(dataclasses.replace(resolved, annotations=annotations, ended_by_reload=reason))
    return ended

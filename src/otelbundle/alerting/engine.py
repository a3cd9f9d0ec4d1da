"""The alert lifecycle, as Prometheus ``rules/alerting.go`` does it, over span windows.

Each (rule, group key) is an alert: inactive -> pending -> firing -> resolved.
:meth:`Engine.evaluate` is Prometheus' evaluation at an interval tick; between
ticks :meth:`Engine.fold` evaluates *early* (docs/alerting.md, "Evaluation
between ticks"): only keys that just received spans able to make the condition
hold, or whose ``for`` just elapsed, and only the transitions towards firing
(inactive -> pending -> firing, sent at once). Everything that needs the
condition *not* to hold (dropping a pending alert, ``keep_firing_for``,
resolving) and every resend happen at ticks, exactly as before.
* The condition holds: pending with ``active_at`` (firing at once when ``for: 0``).
* Pending for ``for``: firing.  A pending alert whose condition stops is dropped, never sent.
* A firing alert whose condition stops stays firing for ``keep_firing_for`` (the
  timer restarts if it holds again meanwhile), then resolves.
* Firing alerts are sent when they start and every ``resend_delay``; resolved
  ones at once and every ``resend_delay`` for 15 minutes, then forgotten.
* ``endsAt`` = now + 4 x max(interval, resend_delay) while firing, the resolve time once resolved.

Where spans replace series: an empty window means the condition does not hold
(as a vanished series resolves an alert in Prometheus); a window with some but
fewer than ``min_spans`` spans gives no verdict and the alert keeps its state.

What a reload keeps of each rule's windows and alerts is rule_install.py's.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from otelbundle.alerting.alert import Alert, AlertState
from otelbundle.alerting.early import Deadlines
from otelbundle.alerting.evidence import TextScrubber, most_telling
from otelbundle.alerting.exemplar_records import ExemplarRecords
from otelbundle.alerting.exemplar_spans import ExemplarSpans
from otelbundle.alerting.log_fold import LogRuleFold
from otelbundle.alerting.log_intake import LogIntake
from otelbundle.alerting.outgoing import (
    ActiveAlert,
    alert_labels,
    outgoing_alert,
    series_labels,
    sharing_labels,
    speaker,
)
from otelbundle.alerting.processor import DEFAULT_QUEUE_SIZE, AlertingSpanProcessor
from otelbundle.alerting.rule_install import install_rules
from otelbundle.alerting.rules import Aggregate, Rule
from otelbundle.alerting.section import AlertingConfig
from otelbundle.alerting.state import RuleState
from otelbundle.alerting.telemetry import AlertTelemetry
from otelbundle.alerting.trace_logs import TraceLogs
from otelbundle.alerting.window import RuleWindow, Totals
from otelbundle.config.report import warn_seen

RESOLVED_RETENTION = 15 * 60.0
DUE_SLACK = 1e-6  # seconds
_log = logging.getLogger("otelbundle.alerting")


class Dispatcher(Protocol):
    def submit(self, alerts: Sequence[Alert]) -> None: ...


@dataclass
class Verdict:
    holds: bool
    value: float
    trace_ids: list[str]


class Engine:
    """The state machine: rules, their windows and alerts, and :meth:`evaluate` at a given time.

    It runs no thread of its own: :class:`otelbundle.alerting.manager.RuleManager`
    calls :meth:`evaluate` on its timer thread, and tests and ``rules test`` call it
    directly in simulated time. The engine owns the span processor whose queue it
    drains (``processor``) before each evaluation; ``wakeup`` is what the processor
    calls when its queue fills (the manager's thread then drains early). It also
    owns the log intake (``log_intake``), drained just before the spans, whose
    records fill ``trace_logs``, the recent log lines per trace.
    ``process_labels`` gives the labels every alert starts from (``instance``,
    ``service_name``; see outgoing.py ``alert_labels``).
    """

    def __init__(
        self,
        config: AlertingConfig,
        dispatcher: Dispatcher,
        clock: Callable[[], float] = time.time,
        telemetry: AlertTelemetry | None = None,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        process_labels: Callable[[], Mapping[str, str]] | None = None,
        wakeup: Callable[[], None] | None = None,
        scrubber: TextScrubber | None = None,
        to_wall: Callable[[float], float] | None = None,
    ) -> None:
        self.config = config
        self.to_wall = to_wall  # the clock's instants as wall time, for startsAt/endsAt (clock.py)
        self.dispatcher = dispatcher
        self.clock = clock
        self.telemetry = telemetry or AlertTelemetry(enabled=False)
        self.states: dict[tuple[str, str], RuleState] = {}
        self.active: dict[tuple[str, str], dict[tuple[str, ...], ActiveAlert]] = {}
        self.loaded_at: dict[tuple[str, str], float] = {}
        # Per group, as Prometheus keys them (file, name): a name may be in several files.
        self._next_eval: dict[tuple[str, str], float] = {}
        self.deadlines = Deadlines()
        self.early_evaluations = 0
        self._process_labels = process_labels
        self._said_shared: set[tuple[str, str]] = set()  # rules whose keys share labels, warned
        self._reload_lock = threading.Lock()
        self.scrubber = scrubber
        self.log_intake = LogIntake()
        self.trace_logs = TraceLogs()
        self.log_intake.add_consumer(self.trace_logs)
        self.exemplar_spans = ExemplarSpans(self.trace_logs)
        self.exemplar_records = ExemplarRecords()  # a log rule's evidence: its own records
        self.load(config, now=clock())
        self.processor = AlertingSpanProcessor(self.states.values(), queue_size=queue_size, wakeup=wakeup)
        # Rules over log records (logs:) fold the records here; records then wake the thread too.
        self.log_intake.add_consumer(
            LogRuleFold(lambda: self.states, self.log_intake, wakeup, self.exemplar_records)
        )

    # ---- rules (rule_install.py) ----------------------------------------------
    def load(self, config: AlertingConfig, now: float) -> list[RuleState]:
        """Install rules: rule_install.py says what an unchanged, edited or removed rule keeps.
        A firing alert the install ends is resolved once on the channels people read."""
        ended = install_rules(self, config, now)
        self._rebuild_deadlines()  # an edited ``for`` moves a kept pending alert's deadline
        if ended:
            self.dispatcher.submit(ended)
        return list(self.states.values())

    def reload(self, config: AlertingConfig) -> int:
        """Swap in new rules (file change, SIGHUP); unchanged rules keep their windows and alerts."""
        with self._reload_lock:
            states = self.load(config, now=self.clock())
            self.processor.replace_rules(states)
            return len(states)

    # ---- evaluation ----------------------------------------------------------
    def evaluate(self, now: float) -> list[Alert]:
        """Evaluate the groups that are due; returns (and dispatches) the alerts sent."""
        started = time.perf_counter()
        self.log_intake.drain(now)  # first: a span's log lines are in before the span is
        self.processor.drain(now)
        to_send: list[Alert] = []
        for group in self.config.groups:
            ident = (group.file, group.name)
            due = self._next_eval.get(ident, now)
            # Due within a microsecond counts as due: the sums of intervals drift by a rounding
            # error (0.3 + 0.3 + 0.3 is not 0.9), and a caller stepping by the interval (rules
            # test) then missed a whole step. Further ahead than an interval: the clock went back.
            if now + DUE_SLACK < due <= now + group.interval:
                continue
            # On the group's own cadence, as Prometheus's ticker: an evaluation that ran late
            # does not push the next one back; one that missed whole intervals skips them.
            late = now - due
            self._next_eval[ident] = (
                due + group.interval if -DUE_SLACK <= late < group.interval else now + group.interval
            )
            for rule in group.rules:
                state = self.states.get((rule.group, rule.name))
                if state is not None:
                    to_send.extend(self._evaluate_rule(state, now))
        if to_send:
            self.dispatcher.submit(to_send)
        self.telemetry.evaluated(time.perf_counter() - started)
        return to_send

    def _verdicts(
        self, state: RuleState, now: float
    ) -> tuple[dict[tuple[str, ...], Verdict], set[tuple[str, ...]]]:
        rule = state.rule
        verdicts: dict[tuple[str, ...], Verdict] = {}
        undecided: set[tuple[str, ...]] = set()
        watch_any: set[tuple[str, ...]] = set()
        with state.lock:
            for key, window in list(state.windows.items()):
                totals = window.totals(now)
                if totals.count == 0:
                    watch_any.add(key)
                    if window.last_seen < now - rule.window:
                        del state.windows[key]  # bounded memory: idle keys go away
                verdict = _decide(rule, totals, window, now)
                if verdict is None:
                    undecided.add(key)
                    continue
                verdicts[key] = verdict
            if rule.condition.aggregate is Aggregate.ABSENT and () not in verdicts:
                # Nothing matched for a whole window since the rule was loaded: absent holds.
                waited = now - self.loaded_at.get((rule.group, rule.name), now) >= rule.window
                verdicts[()] = Verdict(waited, 1.0, [])
            state.dirty.clear()  # this evaluation saw every key
            state.watch_any = watch_any | undecided
        return verdicts, undecided

    def _evaluate_rule(self, state: RuleState, now: float) -> list[Alert]:
        rule = state.rule
        ident = (rule.group, rule.name)
        active = self.active.setdefault(ident, {})
        verdicts, undecided = self._verdicts(state, now)
        for key, verdict in verdicts.items():
            if verdict.holds:
                self._hold(rule, active, key, verdict, now)
        for key, alert in list(active.items()):
            holding = key in verdicts and verdicts[key].holds
            if holding or key in undecided:
                continue
            if alert.state is AlertState.PENDING:
                del active[key]  # never sent
            elif alert.state is AlertState.FIRING:
                if rule.keep_firing_for > 0:
                    if not alert.keep_firing_since:
                        alert.keep_firing_since = now
                    if now - alert.keep_firing_since < rule.keep_firing_for:
                        continue
                alert.state, alert.resolved_at = AlertState.INACTIVE, now
                self._transition(alert, AlertState.INACTIVE)
            elif now - alert.resolved_at > RESOLVED_RETENTION:
                del active[key]
        # A pending alert fires only at an evaluation where it holds, as in Prometheus' Eval (the
        # pending-to-firing step is in its branch for series in the result); an undecided key
        # (too few spans for a verdict) keeps its state, pending included, until one holds.
        held = {key for key, verdict in verdicts.items() if verdict.holds}
        return self._fire_and_send(rule, active, list(active.values()), now, held)

    def _hold(
        self,
        rule: Rule,
        active: dict[tuple[str, ...], ActiveAlert],
        key: tuple[str, ...],
        verdict: Verdict,
        now: float,
    ) -> ActiveAlert:
        """The condition holds for ``key`` at ``now``: Prometheus' holding branch (a new alert is pending)."""
        alert = active.get(key)
        created = alert is None or alert.state is AlertState.INACTIVE
        if alert is None or created:
            alert = active[key] = ActiveAlert(rule, key, {}, AlertState.PENDING, now)
            self.relabel(alert)
        alert.value, alert.keep_firing_since = verdict.value, 0.0
        if verdict.trace_ids:
            alert.trace_ids = verdict.trace_ids
        if created:
            self._transition(alert, AlertState.PENDING)
            deadline = now + rule.for_
            if (
                rule.for_ > 0
                and self.config.evaluate_on_spans
                and self.deadlines.add(deadline, (rule.group, rule.name), key)
            ):
                self._rebuild_deadlines()
        return alert

    # ---- between ticks ---------------------------------------------------------
    def fold(self, now: float) -> list[Alert]:
        """Take in queued log records and spans; then, unless ``evaluate_on_spans`` is off,
        evaluate early the keys that may now hold and the pending alerts whose ``for`` has
        elapsed. Returns (and dispatches) the alerts sent."""
        self.log_intake.drain(now)
        self.processor.drain(now)
        if not self.config.evaluate_on_spans:
            for state in self.states.values():
                state.dirty.clear()
            return []
        started = time.perf_counter()
        due: dict[tuple[str, str], set[tuple[str, ...]]] = {}
        for ident, key in self.deadlines.due(now):
            due.setdefault(ident, set()).add(key)
        to_send: list[Alert] = []
        evaluated = False
        for ident, state in self.states.items():
            dirty, timed = state.dirty, due.get(ident)
            if not dirty and not timed:
                continue
            if dirty:
                state.dirty = set()
            to_send.extend(self._evaluate_early(state, dirty | timed if timed else dirty, now))
            evaluated = True
        if to_send:
            self.dispatcher.submit(to_send)
        if evaluated:
            self.early_evaluations += 1
            self.telemetry.evaluated_early(time.perf_counter() - started)
        return to_send

    def _evaluate_early(self, state: RuleState, keys: set[tuple[str, ...]], now: float) -> list[Alert]:
        """The transitions towards firing for ``keys`` whose condition holds at ``now``."""
        rule = state.rule
        ident = (rule.group, rule.name)
        active = self.active.setdefault(ident, {})
        holding: dict[tuple[str, ...], Verdict] = {}
        with state.lock:
            for key in keys:
                alert = active.get(key)
                if alert is not None and (
                    alert.state is AlertState.FIRING
                    or (alert.state is AlertState.PENDING and now - alert.active_at < rule.for_)
                ):
                    continue  # nothing to gain before its deadline or the next tick
                window = state.windows.get(key)
                if window is None:
                    continue
                totals = window.totals(now)
                verdict = _decide(rule, totals, window, now)
                if verdict is None or totals.count == 0:
                    state.watch_any.add(key)
                else:
                    state.watch_any.discard(key)
                if verdict is not None and verdict.holds:
                    holding[key] = verdict
        if not holding:
            return []
        held = [self._hold(rule, active, key, verdict, now) for key, verdict in holding.items()]
        return self._fire_and_send(rule, active, held, now)

    def _fire_and_send(
        self,
        rule: Rule,
        active: Mapping[tuple[str, ...], ActiveAlert],
        alerts: Sequence[ActiveAlert],
        now: float,
        held: Collection[tuple[str, ...]] | None = None,
    ) -> list[Alert]:
        """The end of every evaluation, at a tick or between ticks: pending ``alerts`` whose
        ``for`` has elapsed fire (only those whose keys are in ``held``, when given: the others
        did not hold at ``now``), and those due a notification are handed out."""
        resend = self.config.resend_delay
        sent: list[Alert] = []
        for alert in alerts:
            if (
                alert.state is AlertState.PENDING
                and now - alert.active_at >= rule.for_
                and (held is None or alert.key in held)
            ):
                alert.state, alert.fired_at = AlertState.FIRING, now
                self._transition(alert, AlertState.FIRING)
        unsent = self._spoken_for(rule, active)
        for alert in alerts:
            if id(alert) not in unsent and alert.needs_sending(now, resend):
                alert.last_sent_at = now
                sent.append(self._to_alert(alert, now))
        self.telemetry.set_active(
            (rule.group, rule.name),
            [(a.labels, a.state) for a in active.values() if a.state is not AlertState.INACTIVE],
        )
        return sent

    def _spoken_for(self, rule: Rule, active: Mapping[tuple[str, ...], ActiveAlert]) -> set[int]:
        """The ids of ``rule``'s alerts not to send now: another with the same labels is sent
        for them (outgoing.py ``speaker``), so a receiver never gets a resolution for labels
        that still fire, nor two firing alerts of one label set. Prometheus refuses to
        evaluate such a rule ("vector contains metrics with the same labelset"); the keys'
        windows stay apart here (they are what the spans say), only what is sent is merged."""
        if len(active) < 2:
            return set()
        unsent: set[int] = set()
        for alike in sharing_labels(active.values()):
            self._say_shared(rule, alike[0].labels)
            sent = speaker(alike)
            unsent.update(id(alert) for alert in alike if alert is not sent)
        return unsent

    def _say_shared(self, rule: Rule, labels: Mapping[str, str]) -> None:
        """Said once per rule, as the overflow of its keys is (state.py)."""
        ident = (rule.group, rule.name)
        if ident in self._said_shared:
            return
        self._said_shared.add(ident)
        warn_seen(
            _log,
            "otelbundle: alert rule %r (%s): several group keys give the same labels %s (a rule "
            "label or an external label over a group_by label, or values the scrubber makes "
            "alike): they are sent as one alert, firing while any of them fires",
            rule.name,
            rule.location,
            labels,
        )

    def next_deadline(self) -> float:
        """When a pending alert's ``for`` next elapses (engine clock); infinity when none does,
        or when early evaluation is off."""
        return self.deadlines.next() if self.config.evaluate_on_spans else math.inf

    def _rebuild_deadlines(self) -> None:
        self.deadlines.rebuild(
            (alert.active_at + alert.rule.for_, ident, key)
            for ident, alerts in self.active.items()
            for key, alert in alerts.items()
            if alert.state is AlertState.PENDING and alert.rule.for_ > 0
        )

    # ---- shaping (outgoing.py) ---------------------------------------------------
    def relabel(self, alert: ActiveAlert) -> None:
        """Set ``alert``'s labels (and its series labels, the templates' ``$labels``) from its
        rule, its key and the config: when it is made, and for kept alerts at a reload."""
        process = self._process_labels() if self._process_labels is not None else {}
        alert.series = series_labels(alert.rule, alert.key, process, self.scrubber)
        alert.labels = alert_labels(alert.rule, alert.series, self.config.external_labels)

    def resolve(self, alert: ActiveAlert, now: float) -> Alert:
        """Resolve a firing ``alert`` at ``now`` outside an evaluation (its rule went by a
        reload); returns the resolution to send."""
        alert.state, alert.resolved_at = AlertState.INACTIVE, now
        self._transition(alert, AlertState.INACTIVE)
        return self._to_alert(alert, now)

    def notification(self, alert: ActiveAlert, now: float) -> Alert:
        """What would be sent for ``alert`` at ``now`` (``rules test`` compares it)."""
        return self._to_alert(alert, now)

    def _to_alert(self, alert: ActiveAlert, now: float) -> Alert:
        return outgoing_alert(
            alert, now, self.config, self.exemplar_spans, self.scrubber, self.exemplar_records, self.to_wall
        )

    def _transition(self, alert: ActiveAlert, state: AlertState) -> None:
        trace_id = alert.trace_ids[0] if alert.trace_ids else ""
        self.telemetry.transition(alert.labels, state, alert.value, trace_id, self._span_of(alert, trace_id))

    def _span_of(self, alert: ActiveAlert, trace_id: str) -> int:
        """The id of a span of the exemplar trace this engine saw (the one its evidence would
        quote, or the log rule's record's span), so the transition's log record points at a
        span that exists; 0 when none is known."""
        if not trace_id:
            return 0
        number = int(trace_id, 16)
        rule = alert.rule
        if rule.logs is not None:
            records = self.exemplar_records.get((rule.group, rule.name), alert.key)
            return next(
                (line.span_id for tid, line in reversed(records) if tid == number and line.span_id), 0
            )
        entry = self.exemplar_spans.get(number)
        return most_telling(entry.spans).span_id if entry is not None and entry.spans else 0

    # ---- fork, timing ----------------------------------------------------------
    def after_fork_in_child(self) -> None:
        """A forked worker evaluates the spans it serves, from a clean slate: the parent's
        windows and alerts stay the parent's, and its locks may have been held at fork."""
        now = self.clock()
        for ident, state in self.states.items():
            state.reset()
            self.loaded_at[ident] = now
        self.active.clear()
        self._next_eval.clear()
        self.deadlines.clear()
        self._reload_lock = threading.Lock()
        self.processor.after_fork_in_child()
        self.log_intake.after_fork_in_child()
        self.trace_logs.clear()
        self.exemplar_spans.clear()
        self.exemplar_records.clear()

    def tick(self) -> float:
        """Seconds until the next group is due: each group keeps its own interval. Waiting the
        shortest interval instead ran a 1.5 s group beside a 1 s one every 2 s."""
        groups = self.config.groups
        if not groups:
            return 1.0
        now = self.clock()
        # A group not evaluated yet is first due one interval from now, as before any cadence:
        # an app's rules do not run at start on windows that have no spans yet.
        soonest = min(self._next_eval.get((g.file, g.name), now + g.interval) for g in groups) - now
        return max(0.0, min(soonest, *(g.interval for g in groups)))


def _decide(rule: Rule, totals: Totals, window: RuleWindow, now: float) -> Verdict | None:
    """The verdict of one window at ``now``; None when it has some but fewer than ``min_spans`` spans.
    Exemplars are looked up only when the condition holds: nothing reads them otherwise.

    An empty window does not hold, whatever its value would say (``count < 5`` is
    0 < 5): where Prometheus has a series and we have a window, no spans is the
    series gone, and its alert resolves. ``absent`` is the rule for no traffic."""
    if rule.condition.aggregate is not Aggregate.ABSENT:
        if totals.count == 0:
            return Verdict(False, rule.condition.value(totals, window), [])
        if totals.count < rule.min_spans:
            return None
    value = rule.condition.value(totals, window)
    holds = rule.condition.holds(value)
    return Verdict(holds, value, window.exemplars(now) if holds else [])

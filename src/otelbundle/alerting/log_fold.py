"""Folding log records into the windows of the rules that select them (``logs:``), on the manager's thread.

A consumer of the :class:`~otelbundle.alerting.log_intake.LogIntake`: the
application's thread only appended each record to the intake's queue. Per
batch, each log rule's records are counted per group key and added to its
window at once (one window update per rule and key, as spans are), with the
newest record that has a trace as the exemplar, so the alert links that trace,
and its newest records go to the :class:`ExemplarRecords` its evidence quotes.

Service and logger are fixed per (resource, logger): which rules they leave in
is decided once per pair and cached (bounded); severity is one integer
comparison; ``where:`` runs per record. Records that match no log rule cost a
dictionary lookup. When the rules include log rules the intake wakes the
manager's thread on arriving records (its ``wakeup``), so a log rule is
evaluated early like a span rule (engine.py ``Engine.fold``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from otelbundle.alerting.exemplar_records import PER_KEY, ExemplarRecords
from otelbundle.alerting.log_intake import LogIntake, LogRecordItem
from otelbundle.alerting.log_selector import LogView
from otelbundle.alerting.state import RuleState, label_value
from otelbundle.alerting.window import EXEMPLARS
from otelbundle.config.report import warn_seen

_EMPTY: Mapping[str, object] = {}
_log = logging.getLogger("otelbundle.alerting")


def view_of(item: LogRecordItem) -> LogView:
    record = item.log_record
    severity = record.severity_number
    body = record.body
    return LogView(
        body=body if isinstance(body, str) else "" if body is None else str(body),
        severity=record.severity_text or (severity.name if severity is not None else ""),
        severity_number=severity.value if severity is not None else 0,
        logger=item.instrumentation_scope.name if item.instrumentation_scope is not None else "",
        attributes=record.attributes or _EMPTY,
        resource=item.resource.attributes if item.resource is not None else _EMPTY,
        trace_id=record.trace_id or 0,
    )


class Tally:
    """One log rule's records of one group key in a batch: how many, the newest traces, and
    the newest records themselves (evidence, made into lines once per batch, not per record)."""

    __slots__ = ("count", "newest", "traces")

    def __init__(self) -> None:
        self.count = 0
        self.traces: list[int] = []  # distinct, oldest first, at most EXEMPLARS
        self.newest: deque[LogRecordItem] = deque(maxlen=PER_KEY)

    def offer(self, trace_id: int) -> None:
        traces = self.traces
        if trace_id in traces:
            traces.remove(trace_id)
        traces.append(trace_id)
        if len(traces) > EXEMPLARS:
            del traces[0]


class LogRuleFold:
    """The intake consumer for log rules; ``states`` gives the engine's current rule states
    (a new dict after every reload, when the cached choices are made again)."""

    SOURCES_LIMIT = 10_000  # (resource, logger) pairs whose rule choice is cached

    def __init__(
        self,
        states: Callable[[], Mapping[tuple[str, str], RuleState]],
        intake: LogIntake,
        wakeup: Callable[[], None] | None,
        records: ExemplarRecords | None = None,
    ) -> None:
        self._states = states
        self._records = records
        self._intake = intake
        self._wakeup = wakeup
        self._seen: object = None
        self._rules: tuple[RuleState, ...] = ()
        self._sources: dict[tuple[int, str], tuple[object, tuple[RuleState, ...]]] = {}
        self.refresh()
        self.records_failed = 0

    def refresh(self) -> None:
        """Pick the log rules out of the current states; records wake the engine only when there are any."""
        states = self._states()
        self._seen = states
        self._rules = tuple(state for state in states.values() if state.rule.logs is not None)
        self._sources = {}
        self._intake.wakeup = self._wakeup if self._rules else None

    def take(self, records: Sequence[LogRecordItem], now: float) -> None:
        if self._states() is not self._seen:
            self.refresh()
        if not self._rules:
            return
        tallies: dict[tuple[RuleState, tuple[str, ...]], Tally] = {}
        for item in records:
            try:
                candidates = self._candidates(item)
                if not candidates:
                    continue
                record = item.log_record
                number = record.severity_number.value if record.severity_number is not None else 0
                view: LogView | None = None
                for state in candidates:
                    logs = state.rule.logs
                    assert logs is not None
                    if not logs.matches_severity(number):
                        continue
                    if logs.where or state.group_by:
                        view = view or view_of(item)
                        if not logs.matches_where(view):
                            continue
                        key = tuple(label_value(view.get(a)) for a in state.group_by)
                    else:
                        key = ()
                    tally = tallies.get((state, key))
                    if tally is None:
                        tally = tallies[(state, key)] = Tally()
                    tally.count += 1
                    tally.newest.append(item)
                    if record.trace_id:
                        tally.offer(record.trace_id)
            except Exception:  # a record we cannot read: passed over, counted, said once
                if not self.records_failed:
                    warn_seen(
                        _log,
                        "otelbundle: a log rule could not read a log record; counting further ones",
                        exc_info=True,
                    )
                self.records_failed += 1
        evidence = self._records
        for (state, key), tally in tallies.items():
            # One window update, plus one per further exemplar (the window keeps one per update).
            traces = tally.traces or [0]
            state.fold_records(key, now, tally.count - len(traces) + 1, traces[0])
            for trace_id in traces[1:]:
                state.fold_records(key, now, 1, trace_id)
            if evidence is not None:
                evidence.offer((state.rule.group, state.rule.name), key, tally.newest)

    def _candidates(self, item: LogRecordItem) -> tuple[RuleState, ...]:
        resource = item.resource
        logger = item.instrumentation_scope.name if item.instrumentation_scope is not None else ""
        source = (id(resource), logger)
        cached = self._sources.get(source)
        if cached is not None and cached[0] is resource:  # the entry holds the resource: its id is not reused
            return cached[1]
        service = str(resource.attributes.get("service.name", "")) if resource is not None else ""
        found = tuple(
            state
            for state in self._rules
            if state.rule.logs is not None and state.rule.logs.matches_source(service, logger)
        )
        if len(self._sources) < self.SOURCES_LIMIT:
            self._sources[source] = (resource, found)
        return found

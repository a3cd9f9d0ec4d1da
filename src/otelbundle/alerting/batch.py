"""Folding a batch of finished spans into the rules' windows, on the engine thread.

The application's thread only queues each span (processor.py). Here a batch is
cut into *signatures*: spans with the same resource, name, kind, status and
values of the attributes the candidate rules read are alike to every such
rule, so each rule's predicates and group key are decided once per signature
(and kept for its later batches) instead of once per span. What is left per
span is reading it and adding its duration to its signature's tally: about as
much as reading the span's attributes costs, whatever the number of rules. The
tallies that one rule puts under one group key are then summed, so each
(rule, key) gets one window update per fold (``apply_shares``).

Rules whose ``where:``/``errors_where:``/``group_by`` read ``duration`` cannot
share a verdict between spans; they are decided per span, still folded into
one window update per group key.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, Status, StatusCode

from otelbundle.alerting.predicates import BUILTINS, SpanView
from otelbundle.alerting.state import RuleState, Tally, newest
from otelbundle.sdk.attributes import plain_attributes

KIND_NAMES = {
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.INTERNAL: "internal",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
_ERROR, _OK = StatusCode.ERROR, StatusCode.OK
_STATUS_NAMES = ("unset", "ok", "error")  # indexed by status_number()
_EMPTY_RESOURCE = Resource.get_empty()
_UNHASHABLE = object()  # marks a signature made for one span whose attribute values cannot be hashed


class Plan:
    """What the rules do with spans of one (resource, name, kind), decided once and cached.

    ``fields`` are (attribute, value on the resource) pairs: the attributes that
    tell spans apart for the ``shared`` rules, with the resource value standing
    in where a span lacks the attribute (as SpanView.get reads them).
    """

    __slots__ = (
        "fields",
        "idle",
        "kept",
        "kind",
        "per_span",
        "read_fields",
        "resource",
        "shared",
        "track_bins",
    )

    def __init__(
        self, resource: Resource, kind: SpanKind, shared: Sequence[RuleState], per_span: Sequence[RuleState]
    ) -> None:
        self.resource = resource
        self.kind = kind
        self.shared = tuple(shared)
        self.per_span = tuple(per_span)
        self.idle = not shared and not per_span
        names = sorted({f for state in shared for f in state.rule.fields if f not in BUILTINS})
        self.fields = tuple((name, resource.attributes.get(name)) for name in names)
        # One C call for all fields when the span has them all (KeyError otherwise).
        self.read_fields = operator.itemgetter(*names) if names else None
        self.track_bins = any(state.track_bins for state in shared)
        self.kept = False  # by the PlanCache: past its LIMIT, plans made per span are not

    def values_of(self, attributes: Mapping[str, object]) -> object:
        """What read_fields gives, for a span that lacks some field: the resource's value or None."""
        present = plain_attributes(attributes)
        values = tuple(present.get(name, fallback) for name, fallback in self.fields)
        return values[0] if len(values) == 1 else values


class PlanCache:
    """Plans by (name, kind, resource). Bounded: past ``LIMIT`` distinct triples (span
    names with ids in them) a plan is made per span instead of cached."""

    LIMIT = 10_000
    ROUTES_LIMIT = 256

    def __init__(self, states: Iterable[RuleState]) -> None:
        self.states = [state for state in states if state.rule.logs is None]  # log rules: log_fold.py
        self._plans: dict[tuple[str, int, int], Plan] = {}
        self.last_by_name: dict[str, Plan] = {}  # the common case: one kind and resource per name
        self._routes: dict[tuple[object, ...], tuple[Route, ...]] = {}  # by (signature, value types)

    @property
    def routes_kept(self) -> int:
        return len(self._routes)

    def routes_for(self, signature: tuple[object, ...], tally: Tally) -> tuple[Route, ...]:
        """Where a signature's tally goes, decided on its first tally and kept: the rules'
        where:, errors_where: and group keys read only what the signature holds, so every
        later batch of it goes the same way.

        Kept by the values' types too: 500, 500.0 and True are one dict key, but a
        group key reads "500" or "500.0" and a number comparison is false for a bool.
        Kept for the last ``ROUTES_LIMIT`` signatures (forgotten all at once when full):
        a service's busy routes and statuses fit, and an entry is ~1 kB with 10 rules,
        so a group_by over thousands of values does not grow the cache past it.
        """
        values = signature[2] if len(signature) > 2 else None
        cache_key = (signature, tuple(map(type, values)) if type(values) is tuple else type(values))
        routes = self._routes.get(cache_key)
        if routes is None:
            plan = signature[0]
            assert isinstance(plan, Plan) and tally.last is not None
            routes = routes_of(plan, span_view(tally.last))  # any span of the signature reads the same
            # Not kept: plans made per span, and signatures of one span each (4 fields:
            # an unhashable value, the span's id); neither comes again.
            if plan.kept and len(signature) < 4:
                if len(self._routes) >= self.ROUTES_LIMIT:
                    self._routes.clear()
                self._routes[cache_key] = routes
        return routes

    def plan_for(self, span: ReadableSpan) -> Plan:
        name, kind, resource = span.name, span.kind, span.resource or _EMPTY_RESOURCE
        plan = self.last_by_name.get(name)
        if plan is not None and plan.kind is kind and plan.resource is resource:
            return plan
        # Enum hashing runs Python code; the ids of the kind singleton and the
        # resource do not. The plan holds the resource, so its id is not reused.
        key = (name, id(kind), id(resource))
        plan = self._plans.get(key)
        if plan is None or plan.resource is not resource:
            plan = self._make(resource, name, kind)
            if len(self._plans) >= self.LIMIT:
                return plan
            self._plans[key] = plan
            plan.kept = True
            self.last_by_name[name] = plan
        return plan

    def _make(self, resource: Resource, name: str, kind: SpanKind) -> Plan:
        probe = SpanView(name, KIND_NAMES.get(kind, "internal"), "unset", 0.0, {}, resource.attributes)
        matching = [s for s in self.states if s.rule.matcher.matches_static(probe)]
        per_span = [s for s in matching if "duration" in s.rule.fields]
        shared = [s for s in matching if "duration" not in s.rule.fields]
        return Plan(resource, kind, shared, per_span)


def status_number(span: ReadableSpan) -> int:
    code = span.status.status_code
    return 2 if code is _ERROR else 1 if code is _OK else 0


def duration_of(span: ReadableSpan) -> float:
    """Seconds, as predicates read them; 0 for a span without its times or ending before it starts."""
    return nanoseconds_of(span) / 1e9


def nanoseconds_of(span: ReadableSpan) -> int:
    start, end = span.start_time, span.end_time
    return end - start if start and end and end > start else 0


def span_view(span: ReadableSpan) -> SpanView:
    resource = span.resource.attributes if span.resource is not None else {}
    return SpanView(
        name=span.name,
        kind=KIND_NAMES.get(span.kind, "internal"),
        status=_STATUS_NAMES[status_number(span)],
        duration=duration_of(span),
        # A plain dict: spans without the route or status the rules read (a database
        # call, a rendering step) missed every name, each miss a KeyError raised in the
        # SDK's mapping (a tenth of the engine thread's samples in bench_alert_paced.py).
        attributes=plain_attributes(span.attributes),
        resource=resource,
        trace_id=span.context.trace_id if span.context is not None else 0,
    )


class Readers(NamedTuple):
    """How the fold reads a span's public properties."""

    name: Callable[[ReadableSpan], str]
    kind: Callable[[ReadableSpan], SpanKind]
    resource: Callable[[ReadableSpan], Resource]
    status: Callable[[ReadableSpan], Status]
    attributes: Callable[[ReadableSpan], Mapping[str, object]]
    start_time: Callable[[ReadableSpan], int]
    end_time: Callable[[ReadableSpan], int]


def _getter(name: str) -> Callable[[ReadableSpan], Any]:
    prop = vars(ReadableSpan).get(name)
    if isinstance(prop, property) and prop.fget is not None:
        return prop.fget
    return operator.attrgetter(name)  # not a property in this SDK version: read it as any attribute


# CPython 3.11 does not specialise reading a property: ``span.name`` goes through
# the descriptor and a fresh interpreter frame. Calling the same public
# property's getter is an ordinary Python call, which 3.11 inlines: 7 reads a
# span, ~125 ns of the fold's ~900 (3.12 specialises property reads itself).
# Only for spans whose type is exactly ReadableSpan, what the SDK hands to
# on_end: a subclass may override a property, so other spans are read as attributes.
GETTERS = Readers(*(_getter(field) for field in Readers._fields))
ATTRIBUTES = Readers(*(operator.attrgetter(field) for field in Readers._fields))


def fold(spans: Sequence[ReadableSpan], plans: PlanCache, now: float, failed: Callable[[int], None]) -> None:
    """Fold ``spans`` into the windows at ``now``. A span that cannot be read is
    passed over and reported through ``failed(count)``, called inside the except block.

    The loop is the one place where per-span cost matters, so it is written out
    flat: every helper call here would cost as much as the work it does.
    """
    shared: dict[tuple[object, ...], Tally] = {}
    per_span: dict[tuple[RuleState, tuple[str, ...]], Tally] = {}
    plan_for, last_by_name = plans.plan_for, plans.last_by_name
    exact = set(map(type, spans)) == {ReadableSpan}
    name_of, kind_of, resource_of, status_of, attributes_of, start_of, end_of = (
        GETTERS if exact else ATTRIBUTES
    )
    for span in spans:
        try:
            plan = last_by_name.get(name_of(span))  # PlanCache.plan_for's fast path, inlined
            if plan is None or plan.kind is not kind_of(span) or plan.resource is not resource_of(span):
                plan = plan_for(span)
            if plan.idle:
                continue
            if plan.per_span:
                _tally_per_span(per_span, plan, span)
                if not plan.shared:
                    continue
            code = status_of(span).status_code
            status = 2 if code is _ERROR else 1 if code is _OK else 0
            read_fields = plan.read_fields
            if read_fields is None:
                signature: tuple[object, ...] = (plan, status)
            else:
                attributes = attributes_of(span)
                try:
                    signature = (plan, status, read_fields(attributes))
                except KeyError:
                    signature = (plan, status, plan.values_of(attributes))
            try:
                tally = shared.get(signature)
            except TypeError:  # a list-valued attribute (only spans built by hand have those): its own tally
                signature = (plan, status, _UNHASHABLE, id(span))
                tally = shared.get(signature)
            if tally is None:
                tally = shared[signature] = Tally(plan.track_bins)
            try:
                duration = end_of(span) - start_of(span)  # nanoseconds
            except TypeError:  # a span built by hand without its times
                duration = 0
            tally.spans.append(span)  # Tally.add, inlined
            tally.durations.append(duration)
        except Exception:
            failed(1)
    updates: dict[tuple[RuleState, tuple[str, ...]], list[Share]] = {}
    for signature, tally in shared.items():
        try:
            tally.close()
            route_shared(plans, signature, tally, updates)
        except Exception:
            failed(tally.count)
    apply_shares(updates, now, failed)
    for (state, key), tally in per_span.items():
        try:
            tally.close()
            state.fold(key, now, tally, tally.errors, tally.last_error)
        except Exception:
            failed(tally.count)


class Share(NamedTuple):
    """What one signature's tally brings to one (rule, group key): its spans, how many of
    them are bad for the rule, and the bad span it offers as the exemplar (the last one
    queued, or for an SLO the slowest)."""

    tally: Tally
    bad: int
    bad_span: ReadableSpan | None


# How a signature's tally counts for one rule: all its spans are errors, its spans slower
# than the rule's good_if_faster_than are bad (an SLO), or none of its spans are.
ALL_BAD, SLOW_BAD, NONE_BAD = 0, 1, 2
Route = tuple[RuleState, tuple[str, ...], int]


def routes_of(plan: Plan, view: SpanView) -> tuple[Route, ...]:
    """The rules that take spans like ``view``, under which key, and how they count."""
    routes = []
    for state in plan.shared:
        if not state.selects(view):
            continue
        if state.is_error(view):
            bad = ALL_BAD
        elif state.slower_than is not None:
            bad = SLOW_BAD
        else:
            bad = NONE_BAD
        routes.append((state, state.key_of(view), bad))
    return tuple(routes)


def route_shared(
    plans: PlanCache,
    signature: tuple[object, ...],
    tally: Tally,
    updates: dict[tuple[RuleState, tuple[str, ...]], list[Share]],
) -> None:
    """Collect in ``updates``, per (rule, key), what the tally of ``signature`` brings."""
    for state, key, bad in plans.routes_for(signature, tally):
        if bad == ALL_BAD:
            share = Share(tally, tally.count, tally.last)
        elif bad == SLOW_BAD:
            assert state.slower_than is not None
            slow = tally.count_slower(state.slower_than)
            share = Share(tally, slow, tally.slowest if slow else None)
        else:
            share = Share(tally, 0, None)
        shares = updates.get((state, key))
        if shares is None:
            updates[state, key] = [share]
        else:
            shares.append(share)


def apply_shares(
    updates: Mapping[tuple[RuleState, tuple[str, ...]], list[Share]],
    now: float,
    failed: Callable[[int], None],
) -> None:
    """One window update per (rule, key) and fold, however many signatures fed it.

    A rule without ``group_by`` sees most signatures of a batch (every route, every
    status) under its one key: folding them together halves the window updates,
    exemplar offers and rising tests of a small fold (bench_alert_paced.py), where
    those fixed costs are most of the work.
    """
    for (state, key), shares in updates.items():
        try:
            if len(shares) == 1:
                tally, bad, bad_span = shares[0]
            else:
                tally = Tally.merged([share.tally for share in shares], state.track_bins)
                bad = sum(share.bad for share in shares)
                bad_span = newest(share.bad_span for share in shares)  # of the signatures' picks
            state.fold(key, now, tally, bad, bad_span)
        except Exception:
            failed(sum(share.tally.count for share in shares))


def _tally_per_span(
    tallies: dict[tuple[RuleState, tuple[str, ...]], Tally], plan: Plan, span: ReadableSpan
) -> None:
    view = span_view(span)
    for state in plan.per_span:
        if not state.selects(view):
            continue
        key = (state, state.key_of(view))
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally(state.track_bins)
        tally.add(span, nanoseconds_of(span))
        if state.is_bad(view):
            tally.errors += 1
            tally.last_error = span

"""A named channel: a notifier, which alerts it takes (``match:``) and how often it repeats one.

Routing happens in-process, per channel, without Alertmanager: every channel
whose matchers all hold for an alert's labels gets it (no matchers: every
alert, as before routing existed). ``repeat_interval`` is the per-channel
cooldown: an alert still in the status it was last handed to this channel with
(firing, or resolved) is not handed to it again sooner; a change of status
always goes through. It is counted from when the alert was handed to the
channel's queue; a batch the channel then fails to deliver (given up, or dropped
from a full queue) does not count, so the engine's next re-send is let through,
as Alertmanager counts repeat_interval from the last notification that went out.
Every channel, from the config or built in code (a plain notifier wrapped by
:func:`as_channel` too), defaults to Alertmanager's 4h (``DEFAULT_REPEAT_INTERVAL``)
except ``alertmanager``, which needs every re-send; 0 lets every re-send through.

A resolution is handed to a channel once. The engine re-sends a resolved alert
every ``resend_delay`` for 15 minutes, as Prometheus does, so that Alertmanager
(which merges them) cannot miss it; ``alertmanager`` and ``pagerduty`` (a
resolve event for a closed incident changes nothing) still get every re-send
their repeat_interval lets through (pagerduty's 4h default lets one), while a
person reading Slack, email or a webhook's chat would otherwise see the same
"resolved" up to 16 times. A resolution a reload made (``Alert.ended_by_reload``:
the rule went) is not handed to ``alertmanager``: Prometheus sends nothing then either.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.base import Notifier
from otelbundle.alerting.notify.matchers import Matcher, matches_all
from otelbundle.config import format_duration

DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
"""Alertmanager's default ``repeat_interval``: a channel people read (slack, email, webhook,
pagerduty) that sets none hears a still-firing alert again every 4h, not at every re-send
of the engine (each ``resend_delay``). ``repeat_interval: 0s`` asks for every re-send."""
MAX_REMEMBERED = 10_000  # alerts whose last send a channel remembers for repeat_interval
RESENDS_RESOLVED = frozenset({"alertmanager", "pagerduty"})  # kinds that merge repeated resolutions


def default_repeat_interval(kind: str) -> float:
    """What a channel of ``kind`` repeats a firing alert at when nobody said: 0 (every re-send)
    for ``alertmanager``, whose alerts expire without them, else Alertmanager's 4h."""
    return 0.0 if kind == "alertmanager" else DEFAULT_REPEAT_INTERVAL


@dataclass(init=False)
class Channel:
    """Satisfies :class:`~otelbundle.alerting.notify.base.Notifier` itself, so the dispatcher
    and tests can treat a channel as the notifier it wraps.

    ``repeat_interval`` None is the default of its kind (:func:`default_repeat_interval`), as in
    the config: a channel built in code must not page a person at every re-send because nobody
    wrote a number. A negative or NaN one, or any but 0 on ``alertmanager``, is a ValueError
    naming the channel.
    """

    name: str
    kind: str
    notifier: Notifier
    matchers: tuple[Matcher, ...]
    repeat_interval: float
    repeat_default: bool  # repeat_interval is the default, not written (config check says so)
    _last: dict[str, tuple[str, float]] = field(repr=False)
    _resolved: dict[str, float] = field(repr=False)  # fingerprint: resolve time sent
    # select() runs on the engine thread, undelivered() on the delivery thread
    _lock: threading.Lock = field(repr=False, compare=False)

    def __init__(
        self,
        name: str,
        kind: str,
        notifier: Notifier,
        matchers: tuple[Matcher, ...] = (),
        repeat_interval: float | None = None,
        repeat_default: bool = False,
    ) -> None:
        if repeat_interval is None:
            repeat_interval, repeat_default = default_repeat_interval(kind), True
        elif math.isnan(repeat_interval) or repeat_interval < 0:
            raise ValueError(
                f"channel {name!r}: repeat_interval must be 0 (every re-send) or more seconds, "
                f"not {repeat_interval!r}"
            )
        elif kind == "alertmanager" and repeat_interval > 0:
            raise ValueError(  # the config refuses it too (routing_config._AM_REPEAT says why)
                f"channel {name!r}: an alertmanager channel needs every re-send (they renew its "
                "alerts' endsAt); set repeat_interval in Alertmanager's route instead"
            )
        self.name = name
        self.kind = kind
        self.notifier = notifier
        self.matchers = tuple(matchers)
        self.repeat_interval = float(repeat_interval)
        self.repeat_default = repeat_default
        self._last = {}
        self._resolved = {}
        self._lock = threading.Lock()

    def send(self, alerts: Sequence[Alert]) -> None:
        self.notifier.send(alerts)

    def matches(self, alert: Alert) -> bool:
        return matches_all(self.matchers, alert.labels)

    def repeats(self) -> str:
        """How often a still-firing alert is repeated on this channel, said as ``config check``
        reports it: ``slack every 4h (default)``."""
        if self.kind == "alertmanager":
            return f"{self.name} as Alertmanager's route says"
        if self.repeat_interval <= 0:
            return f"{self.name} at every re-send"
        default = " (default)" if self.repeat_default else ""
        return f"{self.name} every {format_duration(self.repeat_interval)}{default}"

    def select(self, alerts: Sequence[Alert], now: float) -> list[Alert]:
        """The alerts this channel takes at ``now``: its matchers hold and repeat_interval allows.

        ``now`` is the dispatcher's monotonic clock: only differences between two readings count.

        Called on the engine's thread (the dispatcher's ``submit``).
        """
        with self._lock:
            return self._select(alerts, now)

    def undelivered(self, alerts: Sequence[Alert]) -> None:
        """``alerts`` were not delivered (the delivery thread gave up on them, or a full queue
        dropped them): what ``select`` remembered of them no longer holds the next re-send back."""
        with self._lock:
            for alert in alerts:
                fingerprint = alert.fingerprint
                last = self._last.get(fingerprint)
                if last is not None and last[0] == alert.status:
                    del self._last[fingerprint]
                if (
                    alert.status == "resolved"
                    and self._resolved.get(fingerprint) == alert.ends_at.timestamp()
                ):
                    del self._resolved[fingerprint]

    def _select(self, alerts: Sequence[Alert], now: float) -> list[Alert]:
        chosen = []
        for alert in alerts:
            if not self.matches(alert) or not self._first_resolution(alert):
                continue
            if alert.ended_by_reload and self.kind == "alertmanager":
                continue  # as Prometheus: nothing sent when a rule goes; it expires at its endsAt
            if self.repeat_interval > 0:
                fingerprint = alert.fingerprint
                last = self._last.get(fingerprint)
                if last is not None and last[0] == alert.status and now - last[1] < self.repeat_interval:
                    continue
                self._last[fingerprint] = (alert.status, now)
            if alert.status == "resolved" and not getattr(self.notifier, "send_resolved", True):
                continue  # remembered above, but not queued: a batch it would skip counted as sent
            chosen.append(alert)
        if len(self._last) > MAX_REMEMBERED:
            self._forget(now)
        return chosen

    def _first_resolution(self, alert: Alert) -> bool:
        """False for a re-send of a resolution this channel was already handed (see the module doc)."""
        if self.kind in RESENDS_RESOLVED:
            return True
        fingerprint = alert.fingerprint
        if alert.status == "firing":
            self._resolved.pop(fingerprint, None)
            return True
        resolved_at = alert.ends_at.timestamp()  # a resolved alert's ends_at is its resolve time
        if self._resolved.get(fingerprint) == resolved_at:
            return False
        self._resolved.pop(fingerprint, None)  # re-inserted last: the dict stays oldest first
        self._resolved[fingerprint] = resolved_at
        while len(self._resolved) > MAX_REMEMBERED:
            del self._resolved[next(iter(self._resolved))]
        return True

    def _forget(self, now: float) -> None:
        """Entries older than repeat_interval no longer hold anything back; past the cap, oldest first."""
        self._last = {k: v for k, v in self._last.items() if now - v[1] < self.repeat_interval}
        while len(self._last) > MAX_REMEMBERED:
            del self._last[next(iter(self._last))]

    def after_fork_in_child(self) -> None:
        """A forked worker's alerts are its own (they carry its instance label): nothing to remember."""
        self._last = {}
        self._resolved = {}
        self._lock = threading.Lock()


def as_channel(notifier: Notifier | Channel) -> Channel:
    """A channel as given, or a plain notifier as the channel of its kind that takes every alert
    and repeats as that kind does by default (4h; every re-send for ``alertmanager``)."""
    if isinstance(notifier, Channel):
        return notifier
    return Channel(notifier.name, notifier.name, notifier)

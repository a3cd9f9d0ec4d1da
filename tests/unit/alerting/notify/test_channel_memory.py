"""What a channel remembers for repeat_interval once it has seen more alerts than it keeps."""

from __future__ import annotations

from datetime import datetime, timezone

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify.routing import MAX_REMEMBERED, Channel

T0 = datetime(2026, 11, 22, 23, 0, 0, tzinfo=timezone.utc)


class Recording:
    name = "webhook"

    def send(self, alerts: object) -> None:
        pass


def firing(number: int) -> Alert:
    return Alert(
        labels={"alertname": "A", "n": str(number)}, annotations={}, status="firing", starts_at=T0, ends_at=T0
    )


def test_past_its_memory_a_channel_forgets_the_oldest_alert_and_still_holds_back_the_rest() -> None:
    channel = Channel("chat", "webhook", Recording(), repeat_interval=60.0)
    alerts = [firing(n) for n in range(MAX_REMEMBERED + 1)]
    # One more alert than it remembers, all handed over at t=1000 (a monotonic reading)
    assert len(channel.select(alerts, 1000.0)) == MAX_REMEMBERED + 1

    # Ten seconds later, within repeat_interval: the oldest was forgotten, so its re-send goes
    # through; every other one (the second oldest too) is still held back.
    again = channel.select(alerts[:2] + alerts[-1:], 1010.0)
    assert [a.labels["n"] for a in again] == ["0"]


def test_past_its_memory_an_alert_older_than_repeat_interval_is_forgotten_before_a_recent_one() -> None:
    channel = Channel("chat", "webhook", Recording(), repeat_interval=60.0)
    first, stale = firing(0), firing(-1)
    channel.select([first], 1000.0)
    channel.select([stale], 1001.0)
    # 100 s on, `first` is handed over again (its repeat_interval passed): remembered anew at
    # 1100, though it was met first; `stale` now holds nothing back
    assert channel.select([first], 1100.0) == [first]
    recent = [firing(n) for n in range(1, MAX_REMEMBERED)]
    assert len(channel.select(recent, 1100.0)) == MAX_REMEMBERED - 1
    # one more than it keeps: the stale alert makes room, not `first`, which was met first
    assert channel.select([first, recent[0]], 1110.0) == []
    assert channel.select([stale], 1110.0) == [stale]

"""The wall clock steps (NTP), a channel's repeat_interval does not; what leaves keeps wall time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher, dispatcher
from otelbundle.alerting.notify.routing import Channel
from tests.unit.alerting.helpers import FakeTime

STARTED = datetime(2026, 11, 22, 23, 0, 0, tzinfo=timezone.utc)
REPEAT = 3600.0


class Recording:
    def __init__(self) -> None:
        self.name = "webhook"
        self.got: list[list[Alert]] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        self.got.append(list(alerts))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """The dispatcher's module reads time through its ``time`` name: both clocks are the fake's."""
    clocks = FakeTime()
    monkeypatch.setattr(dispatcher, "time", SimpleNamespace(time=clocks.wall, monotonic=clocks.monotonic))
    return clocks


def firing() -> Alert:
    return Alert(
        labels={"alertname": "A"}, annotations={}, status="firing", starts_at=STARTED, ends_at=STARTED
    )


def sent_twice(fake: FakeTime, *, wall_step: float, elapsed: float) -> tuple[bool, list[list[Alert]]]:
    """Submits a firing alert, moves the wall clock by ``wall_step`` while ``elapsed`` seconds
    pass, submits it again: was the second one handed to the channel?"""
    chat = Recording()
    notifications = NotificationDispatcher([Channel("chat", "webhook", chat, (), REPEAT)])
    alert = firing()
    notifications.submit([alert])
    fake.wall_now += wall_step + elapsed
    fake.monotonic_now += elapsed
    notifications.submit([alert])
    assert notifications.flush(30)
    notifications.shutdown()
    return len(chat.got) == 2, chat.got


def test_a_wall_clock_step_back_does_not_silence_the_repeat(fake: FakeTime) -> None:
    """On the wall clock, an hour's step back made the next repeat wait two hours, not one."""
    repeated, got = sent_twice(fake, wall_step=-3600.0, elapsed=REPEAT + 60)
    assert repeated
    assert [alert.starts_at for batch in got for alert in batch] == [STARTED, STARTED]  # wall time leaves


def test_a_wall_clock_step_forward_does_not_repeat_early(fake: FakeTime) -> None:
    """On the wall clock, an hour's step forward let every firing alert through a minute later."""
    repeated, _ = sent_twice(fake, wall_step=3600.0, elapsed=60.0)
    assert not repeated


def test_the_repeat_still_comes_after_repeat_interval(fake: FakeTime) -> None:
    repeated, _ = sent_twice(fake, wall_step=0.0, elapsed=REPEAT)
    assert repeated

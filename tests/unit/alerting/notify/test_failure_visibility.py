"""A channel that fails is seen by whoever runs the service, whatever its logging setup.

Under the distro the root logger has only the OTLP handler: a warning on
``otelbundle.alerting`` is exported but shown on no terminal. The dispatcher then
also says it on stderr (once per channel and error), and at shutdown what each
channel lost.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

import pytest

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import NotificationDispatcher, PermanentError
from otelbundle.alerting.notify.matchers import parse_matchers
from otelbundle.alerting.notify.routing import Channel
from otelbundle.config.report import shown_on_console

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Refusing:
    name = "pager"

    def send(self, alerts: Sequence[Alert]) -> None:
        raise PermanentError("HTTP 404: no such hook")


def hierarchy(*handlers: logging.Handler, propagate: bool = True) -> logging.Logger:
    """A logger under a root of its own (the process's root logger is pytest's)."""
    root = logging.Logger("root-of-test", logging.WARNING)
    for handler in handlers:
        root.addHandler(handler)
    child = logging.Logger("root-of-test.alerting")
    child.parent = root
    child.propagate = propagate
    return child


def test_an_otlp_like_handler_or_a_file_is_no_console(tmp_path: pytest.TempPathFactory) -> None:
    assert not shown_on_console(hierarchy(logging.Handler()), logging.WARNING)
    assert not shown_on_console(hierarchy(logging.StreamHandler(io.StringIO())), logging.WARNING)
    file_handler = logging.FileHandler(f"{tmp_path}/app.log")
    try:
        assert not shown_on_console(hierarchy(file_handler), logging.WARNING)
    finally:
        file_handler.close()


def test_a_stream_handler_on_stderr_or_stdout_is_one() -> None:
    assert shown_on_console(hierarchy(logging.StreamHandler(sys.stderr)), logging.WARNING)
    assert shown_on_console(hierarchy(logging.StreamHandler(sys.stdout)), logging.WARNING)
    quiet = logging.StreamHandler(sys.stderr)
    quiet.setLevel(logging.ERROR)
    assert not shown_on_console(hierarchy(quiet), logging.WARNING)
    # not reached: the record stops at the child's own (exporting) handler, short of the console
    child = hierarchy(logging.StreamHandler(sys.stderr), propagate=False)
    child.addHandler(logging.Handler())
    assert not shown_on_console(child, logging.WARNING)


def test_no_handler_anywhere_means_pythons_last_resort_shows_it() -> None:
    assert shown_on_console(hierarchy(), logging.WARNING)
    assert not shown_on_console(hierarchy(), logging.INFO)  # below the logger's level: nobody sees it


@pytest.fixture
def alerting_logger_without_console() -> Iterator[logging.Logger]:
    """``otelbundle.alerting`` as under the distro: records go to a non-console handler only."""
    logger = logging.getLogger("otelbundle.alerting")
    exported = logging.StreamHandler(io.StringIO())  # stands in for the OTLP handler
    saved = (logger.propagate, logger.level)
    logger.addHandler(exported)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger
    finally:
        logger.removeHandler(exported)
        logger.propagate, logger.level = saved


def test_a_failing_channel_is_said_on_stderr_once_and_summed_up_at_shutdown(
    alerting_logger_without_console: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    dispatcher = NotificationDispatcher([Refusing()], base_delay=0.001)
    for n in range(3):
        dispatcher.submit([Alert({"alertname": f"A{n}"}, {}, "firing", T, T)])
    assert dispatcher.flush(5)
    dispatcher.shutdown()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "WARNING otelbundle: alert pager: giving up on a notification: HTTP 404: no such hook",
        "WARNING otelbundle: alert notifications not delivered: pager: 3 alerts failed.",
    ]


def test_an_app_with_a_console_sees_the_line_once_not_twice(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("otelbundle.alerting")
    console = logging.StreamHandler(sys.stderr)  # the app's basicConfig(), in effect
    console.setFormatter(logging.Formatter("APP %(message)s"))
    logger.addHandler(console)
    try:
        dispatcher = NotificationDispatcher([Refusing()], base_delay=0.001)
        dispatcher.submit([Alert({"alertname": "A"}, {}, "firing", T, T)])
        assert dispatcher.flush(5)
        dispatcher.shutdown()
    finally:
        logger.removeHandler(console)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "APP otelbundle: pager: giving up on a notification: HTTP 404: no such hook",
        "WARNING otelbundle: alert notifications not delivered: pager: 1 alert failed.",
    ]


def test_a_channel_that_lost_nothing_says_nothing_at_shutdown(capsys: pytest.CaptureFixture[str]) -> None:
    class Accepting:
        name = "chat"

        def send(self, alerts: Sequence[Alert]) -> None:
            return None

    dispatcher = NotificationDispatcher([Accepting()])
    dispatcher.submit([Alert({"alertname": "A"}, {}, "firing", T, T)])
    assert dispatcher.flush(5)
    dispatcher.shutdown()
    assert capsys.readouterr().err == ""


def test_the_exit_summary_is_said_once_however_often_shutdown_is_called(
    alerting_logger_without_console: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    dispatcher = NotificationDispatcher([Refusing()], base_delay=0.001)
    dispatcher.submit([Alert({"alertname": "A"}, {}, "firing", T, T)])
    assert dispatcher.flush(5)
    dispatcher.shutdown()
    dispatcher.shutdown()
    summaries = [line for line in capsys.readouterr().err.splitlines() if "not delivered" in line]
    assert summaries == ["WARNING otelbundle: alert notifications not delivered: pager: 1 alert failed."]


class BrokenRouting(Channel):
    def select(self, alerts: Sequence[Alert], now: float) -> list[Alert]:
        raise RuntimeError("matcher state corrupted")


def test_a_channel_whose_routing_fails_counts_it_failed_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It was counted 'dropped', which the exit summary calls '(queue full)', and logged nowhere."""
    sent: list[Sequence[Alert]] = []

    class Recorder:
        name = "chat"

        def send(self, alerts: Sequence[Alert]) -> None:
            sent.append(alerts)

    broken = BrokenRouting("pager", "webhook", Refusing(), repeat_interval=0.0)
    dispatcher = NotificationDispatcher([broken, Channel("chat", "webhook", Recorder(), repeat_interval=0.0)])
    try:
        dispatcher.submit([Alert({"alertname": "Down"}, {}, "firing", T, T)])
        assert dispatcher.flush(5)
    finally:
        dispatcher.shutdown()
    stats = dict(dispatcher.stats())
    assert stats["pager"].failed == 1 and stats["pager"].dropped == 0
    assert len(sent) == 1  # the other channel is not held back
    err = capsys.readouterr().err
    assert "pager: choosing the alerts for this channel failed (RuntimeError: matcher state corrupted)" in err
    assert "pager: 1 batch failed" in err and "queue full" not in err  # which of its alerts: unknown


def test_alerts_no_channel_took_are_said_on_stderr_and_in_the_exit_summary(
    alerting_logger_without_console: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under the distro with no console handler of the app's, the unrouted warning was exported
    and seen by no one, and the exit summary left those alerts out (a reviewer's finding)."""

    class Accepting:
        name = "pager"

        def send(self, alerts: Sequence[Alert]) -> None:
            return None

    dispatcher = NotificationDispatcher(
        [Channel("pager", "webhook", Accepting(), tuple(parse_matchers('severity="warning"')))]
    )
    dispatcher.submit([Alert({"alertname": "Checkout", "severity": "critical"}, {}, "firing", T, T)])
    assert dispatcher.flush(5)
    dispatcher.shutdown()
    assert capsys.readouterr().err.splitlines() == [
        "WARNING otelbundle: alert Checkout (alertname=Checkout, severity=critical) matches no channel's "
        "match: and is not sent; further alerts that match no channel are counted",
        "WARNING otelbundle: alert notifications not delivered: 1 alert matched no channel.",
    ]

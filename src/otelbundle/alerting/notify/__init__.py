"""Notification channels for the in-process alert engine, and the `notify:` section that configures them."""

from __future__ import annotations

from collections.abc import Mapping

from otelbundle.alerting.notify.alertmanager import AlertmanagerNotifier
from otelbundle.alerting.notify.base import Notifier, PermanentError, RetryableError
from otelbundle.alerting.notify.channels import CHANNEL_KEYS, build_channel, timeout_of
from otelbundle.alerting.notify.dispatcher import NotificationDispatcher
from otelbundle.alerting.notify.webhook import WebhookNotifier
from otelbundle.config import ConfigProblem, YamlMap, unknown_keys
from otelbundle.config.report import log_problems

__all__ = [
    "AlertmanagerNotifier",
    "NotificationDispatcher",
    "Notifier",
    "PermanentError",
    "RetryableError",
    "WebhookNotifier",
    "build_notifiers",
    "build_notifiers_at_start",
]


def build_notifiers(
    section: YamlMap | None, *, env: Mapping[str, str] | None = None
) -> tuple[list[Notifier], list[ConfigProblem]]:
    """The notifiers of ``alerting.notify``, and every problem (a channel with a problem is left out)."""
    if section is None:
        return [], []
    problems: list[ConfigProblem] = list(unknown_keys(section, set(CHANNEL_KEYS), "notify"))
    notifiers: list[Notifier] = []
    for channel, keys in CHANNEL_KEYS.items():
        config = section.get(channel)
        if config is None:
            continue
        if not isinstance(config, YamlMap):
            problems.append(ConfigProblem(section.value_mark(channel), f"notify.{channel} must be a mapping"))
            continue
        before = len(problems)
        problems.extend(unknown_keys(config, keys, f"notify.{channel}"))
        timeout = timeout_of(config, f"notify.{channel}", problems)
        notifier = build_channel(channel, config, timeout, env or {}, problems)
        if notifier is not None and len(problems) == before:
            notifiers.append(notifier)
    return notifiers, problems


def build_notifiers_at_start(
    section: YamlMap | None, *, env: Mapping[str, str] | None = None
) -> list[Notifier]:
    """:func:`build_notifiers` with its problems logged (``otelbundle.diagnostics``, one line each)."""
    notifiers, problems = build_notifiers(section, env=env)
    log_problems(problems, "{n} problem(s) in alerting.notify: the channels they are in are off")
    return notifiers

"""Notification channels for the in-process alert engine, and the `notify:` section that configures them."""

from __future__ import annotations

from collections.abc import Mapping

from otelbundle.alerting.notify.alertmanager import AlertmanagerNotifier
from otelbundle.alerting.notify.base import Notifier, PermanentError, RetryableError
from otelbundle.alerting.notify.channels import CHANNEL_KEYS, build_channel, timeout_of
from otelbundle.alerting.notify.dispatcher import NotificationDispatcher
from otelbundle.alerting.notify.routing import Channel
from otelbundle.alerting.notify.routing_config import ROUTING_KEYS, ChannelNames, routing_of
from otelbundle.alerting.notify.webhook import WebhookNotifier
from otelbundle.config import ConfigProblem, YamlList, YamlMap, unknown_keys
from otelbundle.config.report import log_problems

__all__ = [
    "AlertmanagerNotifier",
    "Channel",
    "NotificationDispatcher",
    "Notifier",
    "PermanentError",
    "RetryableError",
    "WebhookNotifier",
    "build_channels",
    "build_notifiers",
    "build_notifiers_at_start",
]


def build_notifiers(
    section: YamlMap | None, *, env: Mapping[str, str] | None = None
) -> tuple[list[Notifier], list[ConfigProblem]]:
    """The notifiers of :func:`build_channels`' channels, without their routing."""
    channels, problems = build_channels(section, env=env)
    return [channel.notifier for channel in channels], problems


def build_channels(
    section: YamlMap | None, *, env: Mapping[str, str] | None = None
) -> tuple[list[Channel], list[ConfigProblem]]:
    """The channels of ``alerting.notify``, and every problem (a channel with a problem is left out).

    A kind (``webhook:``, ``slack:``, ...) is one mapping, the channel named after the
    kind, or a list of mappings, each with its own ``name``.
    """
    if section is None:
        return [], []
    problems: list[ConfigProblem] = list(unknown_keys(section, set(CHANNEL_KEYS), "notify"))
    channels: list[Channel] = []
    names = ChannelNames()
    for kind, keys in CHANNEL_KEYS.items():
        value = section.get(kind)
        if value is None:
            continue
        if isinstance(value, YamlMap):
            items = [(value, f"notify.{kind}", False)]
        elif isinstance(value, YamlList) and value and all(isinstance(item, YamlMap) for item in value):
            items = [(item, f"notify.{kind}[{index}]", True) for index, item in enumerate(value)]
        else:
            problems.append(
                ConfigProblem(
                    section.value_mark(kind),
                    f"notify.{kind} must be a mapping, or a list of mappings each with a name",
                )
            )
            continue
        for config, where, listed in items:
            before = len(problems)
            problems.extend(unknown_keys(config, keys | ROUTING_KEYS, where))
            routing = routing_of(config, kind, where, listed, names, problems)
            timeout = timeout_of(config, where, problems)
            notifier = build_channel(kind, config, timeout, env or {}, problems, where)
            if notifier is not None and routing is not None and len(problems) == before:
                if isinstance(notifier, WebhookNotifier) and "name" in config:
                    notifier.receiver = routing.name
                channels.append(
                    Channel(
                        routing.name,
                        kind,
                        notifier,
                        routing.matchers,
                        routing.repeat_interval,
                        routing.repeat_default,
                    )
                )
    return channels, problems


def build_notifiers_at_start(
    section: YamlMap | None, *, env: Mapping[str, str] | None = None
) -> list[Channel]:
    """:func:`build_channels` with its problems logged (``otelbundle.diagnostics``, one line each)."""
    notifiers, problems = build_channels(section, env=env)
    log_problems(problems, "{n} problem(s) in alerting.notify: the channels they are in are off")
    return notifiers

"""Notification channels for the in-process alert engine, and the `notify:` section that configures them."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlparse

from otelbundle.alerting.notify.alertmanager import AlertmanagerNotifier
from otelbundle.alerting.notify.base import Notifier, PermanentError, RetryableError
from otelbundle.alerting.notify.channels import CHANNEL_KEYS, build_channel
from otelbundle.alerting.notify.dispatcher import NotificationDispatcher
from otelbundle.alerting.notify.webhook import WebhookNotifier
from otelbundle.yamlconf import ConfigProblem, YamlMap, unknown_keys

__all__ = [
    "AlertmanagerNotifier",
    "NotificationDispatcher",
    "Notifier",
    "PermanentError",
    "RetryableError",
    "WebhookNotifier",
    "build_notifiers",
]

_CHANNEL_KEYS = {
    "alertmanager": {"url", "timeout"},
    "webhook": {"url", "headers", "timeout"},
    **CHANNEL_KEYS,
}


def _url(section: YamlMap, key: str, where: str, problems: list[ConfigProblem]) -> str | None:
    value = str(section.get(key) or "").strip()
    if not value:
        problems.append(
            ConfigProblem(
                section.value_mark(key) if key in section else section.mark,
                f"{where}.{key} is empty (if it comes from ${{env:...}}, that variable is not set); {where} is off",
            )
        )
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append(
            ConfigProblem(section.value_mark(key), f"{where}.{key}: {value!r} is not an http(s) URL")
        )
        return None
    return value


def _timeout(section: YamlMap, where: str, problems: list[ConfigProblem]) -> float:
    from otelbundle.alerting.durations import parse_duration

    if "timeout" not in section:
        return 5.0
    try:
        return parse_duration(section["timeout"])
    except ValueError as exc:
        problems.append(ConfigProblem(section.value_mark("timeout"), f"{where}.timeout: {exc}"))
        return 5.0


def build_notifiers(
    section: YamlMap | None, *, env: Mapping[str, str] | None = None
) -> tuple[list[Notifier], list[ConfigProblem]]:
    """The notifiers of ``alerting.notify``, and every problem (a channel with a problem is left out)."""
    if section is None:
        return [], []
    problems: list[ConfigProblem] = list(unknown_keys(section, set(_CHANNEL_KEYS), "notify"))
    notifiers: list[Notifier] = []
    for channel in _CHANNEL_KEYS:
        config = section.get(channel)
        if config is None:
            continue
        if not isinstance(config, YamlMap):
            problems.append(ConfigProblem(section.value_mark(channel), f"notify.{channel} must be a mapping"))
            continue
        before = len(problems)
        problems.extend(unknown_keys(config, _CHANNEL_KEYS[channel], f"notify.{channel}"))
        if channel in CHANNEL_KEYS:
            timeout = _timeout(config, f"notify.{channel}", problems)
            extra = build_channel(channel, config, timeout, env or {}, problems)
            if extra is not None and len(problems) == before:
                notifiers.append(extra)
            continue
        url = _url(config, "url", f"notify.{channel}", problems)
        timeout = _timeout(config, f"notify.{channel}", problems)
        if url is None or len(problems) > before:
            continue
        if channel == "alertmanager":
            notifiers.append(AlertmanagerNotifier(url, timeout))
        else:
            headers = config.get("headers") or {}
            notifiers.append(WebhookNotifier(url, {str(k): str(v) for k, v in headers.items()}, timeout))
    return notifiers, problems

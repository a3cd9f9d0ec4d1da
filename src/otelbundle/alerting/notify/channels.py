"""Config parsing for every channel of ``alerting.notify``: one builder per channel, one set of
helpers for required values, URLs, booleans and timeouts, on top of :mod:`otelbundle.config`.

A channel with any problem (including an unset ``${env:...}`` anywhere in it) is left out;
the other channels and the rules keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlparse

from otelbundle.alerting.notify.alertmanager import AlertmanagerNotifier
from otelbundle.alerting.notify.base import Notifier
from otelbundle.alerting.notify.email import EmailNotifier
from otelbundle.alerting.notify.pagerduty import EVENTS_URL, PagerDutyNotifier
from otelbundle.alerting.notify.slack import SlackNotifier
from otelbundle.alerting.notify.webhook import WebhookNotifier
from otelbundle.config import ConfigProblem, Problems, YamlList, YamlMap, parse_duration
from otelbundle.config.reader import ENV_VALUE_SHOWN_AS, from_environment

CHANNEL_KEYS: dict[str, set[str]] = {
    "alertmanager": {"url", "timeout"},
    "webhook": {"url", "headers", "timeout"},
    "slack": {"webhook_url", "timeout", "send_resolved"},
    "pagerduty": {"routing_key", "url", "timeout", "send_resolved"},
    "email": {
        "smarthost",
        "from",
        "to",
        "starttls",
        "username",
        "password",
        "timeout",
        "send_resolved",
    },
}


def _required(config: YamlMap, key: str, where: str, problems: list[ConfigProblem]) -> str | None:
    value = str(config.get(key) or "").strip()
    if not value:
        problems.append(
            ConfigProblem(
                config.value_mark(key) if key in config else config.mark,
                f"{where}.{key} is empty (if it comes from ${{env:...}}, that variable is unset or empty); {where} is off",
            )
        )
        return None
    return value


def _host_port(value: str) -> bool:
    """``host`` or ``host:port``, as EmailNotifier splits it."""
    host, _, port = value.rpartition(":")
    if not host:
        return True
    return port.isdigit() and 0 < int(port) < 65536


def _http_url(config: YamlMap, key: str, value: str, where: str, problems: list[ConfigProblem]) -> bool:
    try:
        parsed = urlparse(value)
        _ = parsed.port  # a port that is not a number raises here, not when the first alert is sent
    except ValueError:  # "http://[127.0.0.1:9/hook": an unclosed IPv6 bracket
        parsed = urlparse("")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        # A webhook URL from a variable is a secret (Slack's is its own credential): name the place only.
        shown = ENV_VALUE_SHOWN_AS if from_environment(config.from_env.get(key)) else repr(value)
        problems.append(
            ConfigProblem(config.value_mark(key), f"{where}.{key}: {shown} is not an http(s) URL")
        )
        return False
    return True


def _bool(config: YamlMap, key: str, default: bool, where: str, problems: list[ConfigProblem]) -> bool:
    if key not in config:
        return default
    value = config[key]
    if not isinstance(value, bool):
        problems.append(ConfigProblem(config.value_mark(key), f"{where}.{key} must be true or false"))
        return default
    return value


def timeout_of(config: YamlMap, where: str, problems: list[ConfigProblem]) -> float:
    return Problems(problems).value(config, "timeout", parse_duration, 5.0, label=f"{where}.timeout")


def build_channel(
    channel: str,
    config: YamlMap,
    timeout: float,
    env: Mapping[str, str],
    problems: list[ConfigProblem],
    where: str = "",
) -> Notifier | None:
    """The notifier of one channel of kind ``channel``, or None after adding its problems;
    ``where`` names it in messages (``notify.webhook[1]``; default ``notify.<kind>``)."""
    builders: dict[
        str, Callable[[YamlMap, float, Mapping[str, str], list[ConfigProblem], str], Notifier | None]
    ] = {
        "alertmanager": _alertmanager,
        "webhook": _webhook,
        "slack": _slack,
        "pagerduty": _pagerduty,
        "email": _email,
    }
    before = len(problems)
    Problems(problems).unset_env(config)
    notifier = builders[channel](config, timeout, env, problems, where or f"notify.{channel}")
    return notifier if len(problems) == before else None


def _alertmanager(
    config: YamlMap, timeout: float, env: Mapping[str, str], problems: list[ConfigProblem], where: str
) -> Notifier | None:
    url = _required(config, "url", where, problems)
    if url is None or not _http_url(config, "url", url, where, problems):
        return None
    return AlertmanagerNotifier(url, timeout)


def _webhook(
    config: YamlMap, timeout: float, env: Mapping[str, str], problems: list[ConfigProblem], where: str
) -> Notifier | None:
    url = _required(config, "url", where, problems)
    if url is None or not _http_url(config, "url", url, where, problems):
        return None
    headers = config.get("headers")
    if headers is None:
        headers = {}
    elif not isinstance(headers, YamlMap) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in headers.values()
    ):
        problems.append(
            ConfigProblem(config.value_mark("headers"), f"{where}.headers must map header names to text")
        )
        return None
    return WebhookNotifier(url, {str(k): str(v) for k, v in headers.items()}, timeout)


def _slack(
    config: YamlMap, timeout: float, env: Mapping[str, str], problems: list[ConfigProblem], where: str
) -> Notifier | None:
    url = _required(config, "webhook_url", where, problems)
    resolved = _bool(config, "send_resolved", True, where, problems)
    if url is None or not _http_url(config, "webhook_url", url, where, problems):
        return None
    return SlackNotifier(url, timeout, resolved)


def _pagerduty(
    config: YamlMap, timeout: float, env: Mapping[str, str], problems: list[ConfigProblem], where: str
) -> Notifier | None:
    key = _required(config, "routing_key", where, problems)
    resolved = _bool(config, "send_resolved", True, where, problems)
    url = str(config.get("url") or EVENTS_URL)
    if "url" in config and not _http_url(config, "url", url, where, problems):
        return None
    if key is None:
        return None
    return PagerDutyNotifier(key, url=url, timeout=timeout, send_resolved=resolved)


def _email(
    config: YamlMap, timeout: float, env: Mapping[str, str], problems: list[ConfigProblem], where: str
) -> Notifier | None:
    smarthost = _required(config, "smarthost", where, problems)
    if smarthost is not None and not _host_port(smarthost):
        problems.append(
            ConfigProblem(
                config.value_mark("smarthost"),
                f"{where}.smarthost must be host or host:port (port 1-65535), e.g. smtp.example.com:587",
            )
        )
        smarthost = None
    sender = _required(config, "from", where, problems)
    to_value = config.get("to")
    to: list[str] = []
    if isinstance(to_value, str) and to_value.strip():
        to = [to_value.strip()]
    elif isinstance(to_value, YamlList) and to_value and all(isinstance(t, str) and t for t in to_value):
        to = [str(t) for t in to_value]
    else:
        mark = config.value_mark("to") if "to" in config else config.mark
        problems.append(
            ConfigProblem(mark, f"{where}.to must be an address or a non-empty list of addresses")
        )
    starttls = str(config.get("starttls", "auto"))
    if starttls not in ("auto", "always", "never"):
        problems.append(
            ConfigProblem(config.value_mark("starttls"), f"{where}.starttls must be auto, always or never")
        )
    # Secrets: `password: "${env:SMTP_PASSWORD}"`. A password written in the file is refused, not
    # warned about: config files are committed and shown in reviews, and a refused channel fails
    # `otelbundle config check` in CI before the secret is deployed anywhere.
    username = str(config.get("username") or "") or None
    password = str(config.get("password") or "") or None
    if "password" in config and "password" not in config.from_env:
        problems.append(
            ConfigProblem(
                config.value_mark("password"),
                f'{where}.password must come from the environment, e.g. "${{env:SMTP_PASSWORD}}", '
                "not be written in the file",
            )
        )
    elif "password" in config and not password:
        problems.append(
            ConfigProblem(
                config.value_mark("password"),
                f"{where}.password is empty (if it comes from ${{env:...}}, that variable is unset or empty)",
            )
        )
    if password and not username:
        problems.append(
            ConfigProblem(config.value_mark("password"), f"{where}.password given without username")
        )
    resolved = _bool(config, "send_resolved", False, where, problems)
    if smarthost is None or sender is None or not to:
        return None
    return EmailNotifier(
        smarthost,
        sender,
        to,
        starttls="always" if starttls == "always" else "never" if starttls == "never" else "auto",
        username=username,
        password=password,
        timeout=timeout,
        send_resolved=resolved,
    )

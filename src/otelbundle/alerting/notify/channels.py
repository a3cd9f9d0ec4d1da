"""Config parsing for every channel of ``alerting.notify``: one builder per channel, one set of
helpers for required values, URLs, booleans and timeouts, on top of :mod:`otelbundle.config`.

A channel with any problem (including an unset ``${env:...}`` anywhere in it) is left out;
the other channels and the rules keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from email.utils import getaddresses
from urllib.parse import urlparse

from otelbundle.alerting.notify.alertmanager import AlertmanagerNotifier
from otelbundle.alerting.notify.base import Notifier, header_problem, is_header_name
from otelbundle.alerting.notify.email import EmailNotifier
from otelbundle.alerting.notify.pagerduty import EVENTS_URL, PagerDutyNotifier
from otelbundle.alerting.notify.slack import SlackNotifier
from otelbundle.alerting.notify.webhook import WebhookNotifier
from otelbundle.config import (
    ConfigProblem,
    Problems,
    YamlList,
    YamlMap,
    format_duration,
    parse_duration,
)
from otelbundle.config.problems import unset_variable
from otelbundle.config.reader import ENV_VALUE_SHOWN_AS, from_environment, quoted_hint
from otelbundle.config.substitution import ENV_REF

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
    """The text of a key the channel cannot work without. A key not written is said to be
    missing (at the channel's mapping, where it goes); a key written empty, or whose
    ``${env:...}`` variable is empty, is said to be empty (at its value)."""
    if key not in config:
        problems.append(ConfigProblem(config.mark, f"{where} has no {key!r}; {where} is off"))
        return None
    value = str(config.get(key) or "").strip()
    if not value:
        refs = config.from_env.get(key)
        unset = [ref for ref in refs or () if not ref.startswith("${")]
        if unset:  # the unset variable's own problem at this place is then not said again
            cause = ": " + ", ".join(unset_variable(name) for name in unset)
        elif from_environment(refs):
            cause = " (from ${env:...}: that variable is empty, or unset with an empty default)"
        else:
            cause = ""
        problems.append(
            ConfigProblem(config.value_mark(key), f"{where}.{key} is empty{cause}; {where} is off")
        )
        return None
    return value


def _host_port(value: str) -> bool:
    """``host`` or ``host:port``, as EmailNotifier splits it."""
    host, _, port = value.rpartition(":")
    if not host:
        return True
    return port.isdigit() and 0 < int(port) < 65536


def _addresses(text: str) -> list[str] | None:
    """The addresses of ``text`` (``a@b``, ``Name <a@b>``, ``"a@b, c@d"`` names two) as
    :mod:`email.utils` reads them, or None when one is not ``local@domain``: the server refused
    a sender like ``alerts`` only when the first alert was mailed, and every mail was lost."""
    found = [address for _, address in getaddresses([text])]
    for address in found:
        local, at, domain = address.rpartition("@")
        if not (at and local and domain) or any(c.isspace() for c in address):
            return None
    return found or None


def _not_an_address(label: str, value: object, from_env: bool) -> str:
    shown = ENV_VALUE_SHOWN_AS if from_env else repr(value)  # a variable's text is not shown
    return (
        f"{label}: {shown} is not an email address "
        '(write alerts@example.com or "Alerts <alerts@example.com>")'
    )


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
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value.strip()):
        # http.client refuses it at every send, quoting the path (Slack's is its secret).
        problems.append(
            ConfigProblem(
                config.value_mark(key),
                f"{where}.{key} holds a space or control character: percent-encode it (a space is "
                "%20); it is not shown, it may hold a token",
            )
        )
        return False
    return True


def _is_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _bool(config: YamlMap, key: str, default: bool, where: str, problems: list[ConfigProblem]) -> bool:
    if key not in config:
        return default
    value = config[key]
    if not isinstance(value, bool):
        hint = quoted_hint(value, _is_bool, from_environment(config.from_env.get(key)))
        problems.append(ConfigProblem(config.value_mark(key), f"{where}.{key} must be true or false{hint}"))
        return default
    return value


MAX_TIMEOUT = 300.0
"""The longest ``timeout`` of a channel, 5 minutes. One request (or SMTP session) holds the
channel's only thread for that long, and a send is tried up to 6 times: a server that accepts
the connection and never answers held a channel with ``timeout: 1y`` for six years, every later
alert of it queued behind (and dropped once the queue filled); at 5m it is half an hour, past
which an alert is stale anyway."""


def _timeout(value: object) -> float:
    seconds = parse_duration(value)
    if seconds > MAX_TIMEOUT:
        raise ValueError(
            f"{value!r} is longer than {format_duration(MAX_TIMEOUT)}, the longest a channel waits "
            "for one request: the channel's other alerts wait behind it"
        )
    return seconds


def timeout_of(config: YamlMap, where: str, problems: list[ConfigProblem]) -> float:
    return Problems(problems).value(config, "timeout", _timeout, 5.0, label=f"{where}.timeout")


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
        return WebhookNotifier(url, {}, timeout)
    if not isinstance(headers, YamlMap) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in headers.values()
    ):
        problems.append(
            ConfigProblem(config.value_mark("headers"), f"{where}.headers must map header names to text")
        )
        return None
    sent = _header_values(headers, where, problems)
    return None if sent is None else WebhookNotifier(url, sent, timeout)


def _header_values(headers: YamlMap, where: str, problems: list[ConfigProblem]) -> dict[str, str] | None:
    """The headers as sent: each value without surrounding whitespace (a token read from a
    Kubernetes secret file ends in a newline; HTTP trims it anyway). A value HTTP cannot carry
    (a line break, a control character, a character outside Latin-1) is refused here, without
    the value: at send time http.client raised with the whole value in its message, and that
    message was logged, exported and quoted in other channels' alerts. An unset ``${env:...}``
    in a value is said with the header's name and its consequence."""
    sent: dict[str, str] = {}
    refused = False
    for name, value in headers.items():
        text = str(value).strip()
        unset = [ref for ref in headers.from_env.get(name, ()) if not ref.startswith("${")]
        if not is_header_name(str(name)):
            refused = True
            problems.append(
                ConfigProblem(
                    headers.key_mark(name),
                    f"{where}.headers: {str(name)!r} is not a header name; {where} is off",
                )
            )
        elif unset:
            refused = True
            causes = ", ".join(unset_variable(ref) for ref in unset)
            problems.append(
                ConfigProblem(headers.value_mark(name), f"{where}.headers.{name}: {causes}; {where} is off")
            )
        elif (problem := header_problem(str(name), text)) is not None:
            refused = True
            source = " (from ${env:...}: check the variable's value)" if name in headers.from_env else ""
            problems.append(
                ConfigProblem(
                    headers.value_mark(name), f"{where}.headers.{name} {problem}{source}; {where} is off"
                )
            )
        sent[str(name)] = text
    return None if refused else sent


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


def _password(config: YamlMap, where: str, problems: list[ConfigProblem]) -> str | None:
    """The SMTP password, which only the environment may hold: one written in the file, as
    itself, around a reference or as a reference's default (``${env:P:-hunter2}``, used when the
    variable is unset), is refused, the text not shown. Unset or empty, it is said with its
    cause and consequence in one line, as a required value is."""
    if "password" not in config.from_env:
        problems.append(
            ConfigProblem(
                config.value_mark("password"),
                f'{where}.password must come from the environment, e.g. "${{env:SMTP_PASSWORD}}", '
                "not be written in the file",
            )
        )
        return None
    password = _required(config, "password", where, problems)
    if password is not None and _text_in_file(config.env_texts.get("password")):
        unset = [
            f"; {unset_variable(ref)}" for ref in config.from_env["password"] if not ref.startswith("${")
        ]
        problems.append(
            ConfigProblem(
                config.value_mark("password"),
                f'{where}.password must be only "${{env:SMTP_PASSWORD}}" (any variable): a default '
                "(${env:NAME:-...}) or text around the reference is written in the file, and "
                f"a password must not be (it is not shown{''.join(unset)}); {where} is off",
            )
        )
        return None
    return password


def _text_in_file(raw: str | None) -> bool:
    """Whether ``raw`` (a value as written) holds text of its own: a non-empty default of a
    reference, or anything besides its references. None (not known) is no."""
    if raw is None:
        return False
    if any(ref.group(2) for ref in ENV_REF.finditer(raw)):
        return True
    return bool(ENV_REF.sub("", raw).strip())


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
    if sender is not None and len(_addresses(sender) or ()) != 1:
        hidden = from_environment(config.from_env.get("from"))
        message = _not_an_address(f"{where}.from", sender, hidden)
        problems.append(ConfigProblem(config.value_mark("from"), message))
        sender = None
    to_value = config.get("to")
    to: list[str] = []
    if "to" not in config:
        problems.append(ConfigProblem(config.mark, f"{where} has no 'to'; {where} is off"))
    elif isinstance(to_value, str) and to_value.strip():
        to = [to_value.strip()]
    elif isinstance(to_value, YamlList) and to_value and all(isinstance(t, str) and t for t in to_value):
        to = [str(t) for t in to_value]
    else:
        problems.append(
            ConfigProblem(
                config.value_mark("to"), f"{where}.to must be an address or a non-empty list of addresses"
            )
        )
    for index, recipient in enumerate(to):
        if _addresses(recipient) is None:
            if isinstance(to_value, YamlList):
                mark = to_value.item_mark(index)
                hidden = from_environment(to_value.item_from_env.get(index))
            else:
                mark, hidden = config.value_mark("to"), from_environment(config.from_env.get("to"))
            problems.append(ConfigProblem(mark, _not_an_address(f"{where}.to", recipient, hidden)))
            to = []
            break
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
    if "password" in config:
        password = _password(config, where, problems)
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

"""What a component was started with, so that ``stack up`` can tell a running one whose settings changed.

A process reads its command line, its config files and its environment once, at
start. ``up`` on a running stack after any of them changed (an edited
``--config-root`` copy, ``OTELCOL_MEMORY_LIMIT_MIB=2048``) must restart it, as
``docker compose up`` recreates a changed service, not call the old one healthy.
Recorded beside the pid file as ``run/<name>.settings.json``:

* the binary (its real path) and the arguments, each config file's path replaced
  by its name inside the config root (the same files under another root, as an
  unedited ``stack config --export`` copy, change nothing);
* each config file's sha256 (Prometheus': with its rule files, read at start too);
* the environment the process reads: what the runner sets for it, and every
  variable its config files name (``${env:NAME}``, ``${NAME}``), as an HMAC-SHA256 of
  the value, never the value (a variable may hold a secret). The HMAC's key is
  random, kept in ``run/settings.key`` (mode 0600): a plain hash of a short password
  or token could be confirmed by guessing it offline; without the key it cannot.
  The settings files are written 0600 too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from otelbundle.cli.stack.components import Component

# Arguments that name a config file: collector and Jaeger --config=, Prometheus and
# Alertmanager --config.file=, Loki -config.file=.
_CONFIG_FLAGS = ("--config=", "--config.file=", "-config.file=")
# New for every start by design (agent.yaml: a restarted agent writes new series).
PER_START = frozenset({"OTELCOL_AGENT_INSTANCE"})
_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _keyed(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _name(path: Path, root: Path) -> str:
    """How the settings call a file: its path inside the config root, else its own path."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _rule_files(config: Path, text: bytes) -> list[Path]:
    """The rule files a Prometheus config names (globs, relative to the config's folder)."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    patterns = loaded.get("rule_files") if isinstance(loaded, dict) else None
    if not isinstance(patterns, list):
        return []
    return sorted(p for pattern in patterns if isinstance(pattern, str) for p in config.parent.glob(pattern))


def config_files(component: Component) -> list[Path]:
    """The files ``component`` reads at start: the config files its arguments name, files its
    environment names (Jaeger's UI config), and a Prometheus config's rule files."""
    named = [Path(arg.split("=", 1)[1]) for arg in component.args if arg.startswith(_CONFIG_FLAGS)]
    named += [
        Path(v) for k, v in sorted(component.env.items()) if k.endswith("_CONFIG") and Path(v).is_file()
    ]
    files: list[Path] = []
    for path in named:
        files.append(path)
        text = _read(path)
        if text is not None and component.name == "prometheus":
            files += _rule_files(path, text)
    return files


def settings(
    component: Component, binary: str, env: Mapping[str, str], config_root: Path, key: bytes
) -> dict[str, Any]:
    """What ``component`` is (or would be) started with: see the module's docstring. ``key``
    keys the environment's hashes (``StackDir.settings_key``)."""
    files = config_files(component)
    contents = {path: _read(path) for path in files}
    args = []
    for arg in component.args:
        flag, _, value = arg.partition("=")
        if arg.startswith(_CONFIG_FLAGS):
            arg = f"{flag}=<{_name(Path(value), config_root)}>"
        args.append(arg)
    read = {**env, **component.env}
    for name, value in component.env.items():
        if Path(value) in contents:  # a config file's path: as in the arguments, its name
            read[name] = f"<{_name(Path(value), config_root)}>"
    names = set(component.env)
    for text in contents.values():
        if text is not None:
            names |= set(_REFERENCE.findall(text.decode(errors="replace")))
    return {
        "binary": os.path.realpath(binary),
        "args": args,
        "files": {
            _name(path, config_root): ("missing" if text is None else _sha(text))
            for path, text in contents.items()
        },
        "env": {
            name: (None if name not in read else _keyed(key, read[name]))
            for name in sorted(names - PER_START)
        },
    }


def changes(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """What differs between the settings a process was started with and this ``up``'s, as a
    person reads it: ``binary``, ``command line``, ``config file deploy/prometheus/prometheus.yml``,
    ``environment OTELCOL_MEMORY_LIMIT_MIB``. Empty: the same."""
    found: list[str] = []
    if recorded.get("binary") != wanted.get("binary"):
        found.append("binary")
    if recorded.get("args") != wanted.get("args"):
        found.append("command line")
    for kind, one, several in (
        ("files", "config file", "config files"),
        ("env", "environment", "environment"),
    ):
        old, new = recorded.get(kind) or {}, wanted.get(kind) or {}
        differing = sorted(name for name in {*old, *new} if old.get(name) != new.get(name))
        if differing:
            found.append(f"{several if len(differing) > 1 else one} {', '.join(differing)}")
    return found


def read_settings(path: Path) -> dict[str, Any] | None:
    """The recorded settings, or None (none recorded: started by an older otelbundle, or
    recorded again from a process found running)."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def write_settings(path: Path, recorded: Mapping[str, Any]) -> None:
    """Written 0600: the hashes say nothing of a value without the key, but whose
    variables changed when is the owner's business too."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older otelbundle wrote it with the umask's mode
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(recorded, indent=1, sort_keys=True) + "\n")

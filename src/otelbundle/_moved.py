"""Import paths that moved when the package was laid out in rooms, kept working with a loud warning.

One table, :data:`MOVED`: old module → where it lives now. Importing an old path
emits a ``FutureWarning`` naming the new one (shown by default, unlike
``DeprecationWarning``) and gives a module whose attributes are the new
module's. An old package path (``otelbundle.stack``) covers its submodules too.
Nothing in otelbundle imports an old path; the table goes in a later release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

MOVED: dict[str, str] = {
    "otelbundle.api": "otelbundle.distro.api",
    "otelbundle.configurator": "otelbundle.distro.configurator",
    "otelbundle.runtime": "otelbundle.distro.runtime",
    "otelbundle.settings": "otelbundle.config.environment",
    "otelbundle.yamlconf": "otelbundle.config",
    "otelbundle.exporting": "otelbundle.sdk.export.report",
    "otelbundle.export_counting": "otelbundle.sdk.export.bounded",
    "otelbundle.forking": "otelbundle.sdk.forking",
    "otelbundle.sampling": "otelbundle.sdk.sampling",
    "otelbundle.logs": "otelbundle.sdk.logs.correlation",
    "otelbundle.log_records": "otelbundle.sdk.logs.records",
    "otelbundle.config.env": "otelbundle.config.substitution",
    "otelbundle.config.check": "otelbundle.cli.checks",
    "otelbundle.config.cli": "otelbundle.cli.config",
    "otelbundle.alerting.config": "otelbundle.alerting.section",
    "otelbundle.alerting.setup": "otelbundle.alerting.manager",
    "otelbundle.alerting.notify.metrics": "otelbundle.alerting.telemetry",
    "otelbundle.alerting.durations": "otelbundle.config.values",
    "otelbundle.alerting.cli": "otelbundle.cli.rules",
    "otelbundle.alerting.ruletest": "otelbundle.cli.ruletest",
    "otelbundle.health.config": "otelbundle.health.section",
    "otelbundle.health.cli": "otelbundle.cli.health",
    "otelbundle.scrub.config": "otelbundle.scrub.section",
    "otelbundle.scrub.exporters": "otelbundle.scrub.copies",
    "otelbundle.logs_cli": "otelbundle.cli.logs",
    "otelbundle.backends": "otelbundle.cli.backends",
    "otelbundle.demo": "otelbundle.cli.demo",
    "otelbundle.demo_traffic": "otelbundle.cli.demo_traffic",
    "otelbundle.diagnose": "otelbundle.cli.diagnose",
    "otelbundle.stack": "otelbundle.cli.stack",
}


def new_name(old: str) -> str | None:
    """Where ``old`` lives now (a submodule of a moved package moves with it), or None."""
    if old in MOVED:
        return MOVED[old]
    package = old.rpartition(".")[0]
    while package:
        if package in MOVED:
            return f"{MOVED[package]}.{old[len(package) + 1 :]}"
        package, _, _ = package.rpartition(".")
    return None


class _MovedLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self._new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return types.ModuleType(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        warnings.warn(
            f"{module.__name__} moved to {self._new}; import it from there (the old path will be removed)",
            FutureWarning,
            stacklevel=2,
        )
        target = importlib.import_module(self._new)

        def forward(name: str) -> Any:
            return getattr(target, name)

        module.__getattr__ = forward  # type: ignore[method-assign]
        module.__dict__["__all__"] = getattr(
            target, "__all__", [n for n in dir(target) if not n.startswith("_")]
        )
        if hasattr(target, "__path__"):
            module.__path__ = []  # a package: its submodules are found through this finder too


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds old module paths (and only those) before the regular finders do."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("otelbundle."):
            return None
        new = new_name(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedLoader(new))


def install() -> None:
    if not any(isinstance(finder, MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())

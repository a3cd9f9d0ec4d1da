"""Ctrl-C while the ``otelbundle`` command is still loading ends it quietly with 130.

Reported: Ctrl-C in the first half second of `otelbundle stack up` printed a traceback through
importlib (the commands' modules were loading), where a command's own Ctrl-C handler said
nothing. The interrupt is raised at the same place here, deterministically: in the import of
the `stack` command's module, in a real process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

INTERRUPT_WHILE_LOADING = textwrap.dedent(
    """
    import importlib, sys
    real = importlib.import_module
    def interrupted(name, *args):
        if name == "otelbundle.cli.stack.cli":
            raise KeyboardInterrupt
        return real(name, *args)
    importlib.import_module = interrupted
    from otelbundle.cli.main import main
    sys.exit(main(["stack", "up"]))
    """
)


def test_ctrl_c_while_the_commands_load_exits_130_without_a_traceback() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", INTERRUPT_WHILE_LOADING], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 130, ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr


def test_the_command_does_not_load_the_sdk_to_start() -> None:
    """`import otelbundle` (which every `otelbundle.*` import runs) no longer loads the distro's
    SDK setup; `otelbundle.configure` still works, loaded when first used."""
    probe = (
        "import sys, otelbundle.cli.main; "
        "print('otelbundle.distro.api' in sys.modules); "
        "from otelbundle import configure, Handle; "
        "print(configure.__module__, Handle.__module__)"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert ran.stdout.split() == ["False", "otelbundle.distro.api", "otelbundle.distro.api"], ran.stdout

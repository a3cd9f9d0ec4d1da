"""Which processes `otelbundle demo` stops. The example services and their traffic run in
sessions of their own (the terminal's Ctrl-C does not reach them), so on Ctrl-C the demo
must stop them itself and say what keeps running; and a stale pid file must not make it
stop someone else's process. The stack and the services are stand-ins here."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelbundle.cli import demo
from otelbundle.cli.main import main


def fake_examples(tmp_path: Path) -> Path:
    """Example services that only wait, at the paths the demo runs them from."""
    examples = tmp_path / "examples"
    for name in ("storefront", "inventory"):
        (examples / name).mkdir(parents=True)
        (examples / name / "app.py").write_text("import time\ntime.sleep(60)\n")
    return examples


def running(process: subprocess.Popen[bytes]) -> None:
    """Wait until ``process`` runs its program (right after the fork it is still a copy of us)."""
    deadline = time.monotonic() + 10
    while b"app.py" not in Path(f"/proc/{process.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_ctrl_c_stops_the_services_it_started_and_says_the_stack_keeps_running(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    started: list[subprocess.Popen[bytes]],
) -> None:
    examples = fake_examples(tmp_path)
    monkeypatch.setenv("OTELBUNDLE_STACK_DIR", str(tmp_path / "stack"))

    def service(name: str, app: Path, port: int, env: dict[str, str], state: Path) -> None:
        # As the real one starts it: its own session, its pid in the demo's state folder.
        process = subprocess.Popen([sys.executable, str(app)], start_new_session=True)
        started.append(process)
        (state / f"{name}.pid").write_text(str(process.pid))
        running(process)  # the real one returns once the service answers

    def interrupted(base: str) -> str:
        raise KeyboardInterrupt  # the person presses Ctrl-C while the traffic is sent

    monkeypatch.setattr(demo, "_stack", lambda action, compose_file: None)
    monkeypatch.setattr(demo, "_start_service", service)
    monkeypatch.setattr(demo, "_traffic", interrupted)

    assert main(["demo", "--examples", str(examples)]) == 130
    err = capsys.readouterr().err
    assert "interrupted; stopped the example services and their traffic" in err
    assert "`otelbundle stack down` stops it" in err
    deadline = time.monotonic() + 5
    while any(p.poll() is None for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.poll() is not None for p in started] == [True, True]
    assert not list((tmp_path / "stack" / "demo").glob("*.pid"))


def test_stop_leaves_alone_a_process_that_took_a_stale_pid_files_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[subprocess.Popen[bytes]]
) -> None:
    """After a reboot the demo's pid files name pids that may lead someone else's process
    group: `otelbundle demo --stop` (and a new `make demo`, which stops the last one's
    services first) sent SIGTERM to that whole group."""
    examples = fake_examples(tmp_path)
    monkeypatch.setenv("OTELBUNDLE_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setattr(demo, "_stack", lambda action, compose_file: None)
    state = tmp_path / "stack" / "demo"
    state.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)  # leads its own group
    ours = subprocess.Popen([sys.executable, str(examples / "storefront" / "app.py")], start_new_session=True)
    started.extend([stranger, ours])
    running(ours)
    (state / "inventory.pid").write_text(str(stranger.pid))
    (state / "storefront.pid").write_text(str(ours.pid))

    assert main(["demo", "--stop", "--examples", str(examples)]) == 0
    assert ours.wait(timeout=10) is not None
    time.sleep(0.2)
    assert stranger.poll() is None, "demo --stop stopped a process the demo did not start"
    assert not list(state.glob("*.pid"))


def test_stop_works_from_any_folder_and_says_what_it_stopped(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    started: list[subprocess.Popen[bytes]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`otelbundle demo --stop` outside the checkout said "no examples at …" and stopped nothing,
    and `stack down` then left the services running (a reviewer's finding)."""
    examples = fake_examples(tmp_path)
    monkeypatch.setenv("OTELBUNDLE_STACK_DIR", str(tmp_path / "stack"))
    downs: list[Path] = []
    monkeypatch.setattr(demo, "_stack", lambda action, compose_file: downs.append(compose_file))
    state = tmp_path / "stack" / "demo"
    state.mkdir(parents=True)
    (state / "compose-file").write_text(
        str(tmp_path / "deploy" / "compose.yaml")
    )  # the demo's start wrote it
    ours = subprocess.Popen([sys.executable, str(examples / "storefront" / "app.py")], start_new_session=True)
    started.append(ours)
    running(ours)
    (state / "storefront.pid").write_text(str(ours.pid))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    assert main(["demo", "--stop"]) == 0
    assert ours.wait(timeout=10) is not None
    assert capsys.readouterr().out.splitlines()[0] == f"stopped storefront (pid {ours.pid})"
    assert downs == [tmp_path / "deploy" / "compose.yaml"]


def test_a_refused_demo_and_a_stop_with_nothing_started_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside a checkout the demo refuses ("no examples at …"); it made its state folder
    first, which run as root in someone's stack dir left them a folder they cannot write."""
    stack = tmp_path / "stack"
    monkeypatch.setenv("OTELBUNDLE_STACK_DIR", str(stack))
    monkeypatch.setattr(demo, "_stack", lambda action, compose_file: None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="no examples at"):
        main(["demo"])
    assert main(["demo", "--stop"]) == 0
    assert "no demo services were running" in capsys.readouterr().out
    assert not stack.exists()

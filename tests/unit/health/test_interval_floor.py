"""A check's interval is 100 ms at least: `interval: 1ms` (a slip for 1s) probed its target a
thousand times a second."""

from __future__ import annotations

from pathlib import Path

from tests.unit.health.test_section import problems_of, write


def test_an_interval_under_100ms_is_a_located_problem_for_a_check_and_for_the_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        health:
          interval: 50ms
          checks:
            - {name: db, kind: tcp, host: localhost, port: 5432, interval: 1ms}
        """,
    )
    floor = "is shorter than 100ms, the shortest interval between two runs of a check (each run probes its target)"
    assert problems_of(path) == [f"F:2:13: interval: '50ms' {floor}", f"F:4:68: interval: '1ms' {floor}"]


def test_100ms_and_a_bare_number_of_seconds_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        health:
          interval: 1
          checks:
            - {name: db, kind: tcp, host: localhost, port: 5432, interval: 100ms}
        """,
    )
    assert problems_of(path) == []

"""The engine's clock: wall time at start, advanced by the monotonic clock.

Windows, ``for``, ``keep_firing_for``, resends and the resolved alerts' retention
are all durations between two readings of the engine's clock. Read from the wall
clock, an NTP step would bend them: a step forward of an hour fires every pending
alert at once and empties every window (a burst of resolutions), a step back
stops evaluation until the wall clock has caught up. The monotonic clock does
not step (NTP slews it as it slews the wall clock), so durations stay true.

What leaves the process is wall time (Alertmanager's ``startsAt``/``endsAt``):
:meth:`SteadyClock.to_wall` reads an engine instant as today's wall clock would
have, so after a step an alert started 5 minutes ago still says 5 minutes ago.
"""

from __future__ import annotations

import time
from collections.abc import Callable

STEP = 1.0
"""How far (seconds) the wall clock must move against the monotonic one to count as
a step; below it the outgoing timestamps keep the offset they had (no jitter between
two sends of the same alert)."""


class SteadyClock:
    """Called, the engine's time: seconds since the epoch that never step."""

    def __init__(
        self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._origin = wall() - monotonic()
        self._offset = 0.0  # wall time minus engine time, as last taken

    def __call__(self) -> float:
        return self._origin + self._monotonic()

    def to_wall(self, instant: float) -> float:
        """``instant`` (an earlier reading) as the wall clock now counts: the same time before now."""
        offset = self._wall() - self()
        if abs(offset - self._offset) >= STEP:
            self._offset = offset
        return instant + self._offset

"""Time for the CEM and the simulators: the real UTC clock, or an accelerated one for tests and demos."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """UTC wall clock; ``speed`` > 1 runs simulated time faster than real time from ``start``.

    One instance may be shared by the CEM and simulators in one process so both agree on "now".
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = float(speed)
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def real_s(self, sim_s: float) -> float:
        """Real seconds that pass while ``sim_s`` simulated seconds pass."""
        return sim_s / self.speed

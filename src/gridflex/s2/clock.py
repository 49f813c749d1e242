"""Time for the CEM and the simulators: the real UTC clock, or an accelerated one for tests and demos."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta


class Clock:
    """UTC wall clock; ``speed`` > 1 runs simulated time faster than real time from ``start``.

    One instance may be shared by the CEM and simulators in one process so both agree on "now".

    ``stops_for_planning``: a simulation clock (demos, tests) stands still while a CEM plans
    (:meth:`holding`), so planning takes no simulated time, as it nearly does on the wall clock (a
    plan of 0.1 s is 108 simulated seconds at 1080×, and more on a loaded machine: devices would
    drift from their plan for reasons no real site has). ``held``: it starts held, at ``start``.
    """

    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        stops_for_planning: bool = False,
        held: bool = False,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = float(speed)
        self.stops_for_planning = stops_for_planning
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = time.monotonic()
        self._holds = int(held)  # held: at ``start`` until the first release()
        self._held_at = self._t0

    def _elapsed(self) -> float:
        return (self._held_at if self._holds else time.monotonic()) - self._t0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed() * self.speed)

    def hold(self) -> None:
        """Simulated time stands still until the matching :meth:`release` (holds nest)."""
        if self._holds == 0:
            self._held_at = time.monotonic()
        self._holds += 1

    def release(self) -> None:
        if self._holds == 0:
            raise RuntimeError("Clock.release() without a hold")
        self._holds -= 1
        if self._holds == 0:
            self._t0 += time.monotonic() - self._held_at  # the held time never happened

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Held inside when ``stops_for_planning`` (a CEM's plan), else a no-op."""
        if not self.stops_for_planning:
            yield
            return
        self.hold()
        try:
            yield
        finally:
            self.release()

    def real_s(self, sim_s: float) -> float:
        """Real seconds that pass while ``sim_s`` simulated seconds pass."""
        return sim_s / self.speed

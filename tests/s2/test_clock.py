"""The simulation clock: accelerated, and standing still while a CEM plans when asked to."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from gridflex.s2.clock import Clock

START = datetime(2018, 6, 12, 6, tzinfo=UTC)


def test_held_time_never_happens_and_holds_nest() -> None:
    clock = Clock(1000.0, START, stops_for_planning=True)
    with clock.holding():
        frozen = clock.now()
        with clock.holding():
            time.sleep(0.05)  # 50 simulated seconds would pass here
        time.sleep(0.05)
        assert clock.now() == frozen
    after = clock.now()
    assert 0 <= (after - frozen).total_seconds() < 20  # continues from where it stood, not 100 s later


def test_a_wall_clock_does_not_stop() -> None:
    clock = Clock(1000.0, START)
    with clock.holding():
        before = clock.now()
        time.sleep(0.02)
        assert (clock.now() - before).total_seconds() >= 19

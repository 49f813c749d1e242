"""A sample fleet of fill-rate devices (batteries) for the S2 tests and benchmarks."""

from __future__ import annotations

import uuid

import numpy as np

from gridflex.assets.fill_rate import ActuatorPlanSpec, FillRateDevice, ModeChoice


def battery_fleet(
    n_dev: int, n: int, seed: int = 0, kw: float = 5.0, kwh: float = 10.0
) -> list[FillRateDevice]:
    """A sample fleet for tests and benchmarks: batteries (``kw``, ``kwh``, 95 % one way, fill in
    kWh) at a random fill level, a small drain, and a target of 80 % for one hour somewhere in the day."""
    rng = np.random.default_rng(seed)
    p, eta = kw * 1000.0, 0.95
    out = []
    for i in range(n_dev):
        ch = ModeChoice(uuid.uuid4(), 0.0, p * eta / 3.6e6, 0.0, p)
        dis = ModeChoice(uuid.uuid4(), -p / eta / 3.6e6, 0.0, -p, 0.0)
        idle = ModeChoice(uuid.uuid4(), 0.0, 0.0, 0.0, 0.0)
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
        k = int(rng.integers(min(8, n - 1), max(n - 4, min(8, n - 1) + 1)))
        lo[k : k + 4] = 0.8 * kwh
        fill = float(rng.uniform(0.1, 0.9) * kwh)
        act = ActuatorPlanSpec(uuid.uuid4(), ch, dis, idle)
        out.append(FillRateDevice(f"s2-{i}", fill, 0.0, kwh, [act], np.full(n, 0.02), lo, hi))
    return out

"""The DSO's feeder view: a shipped SimBench grid's day-ahead congestion forecast (T-VPP,
:mod:`gridflex.grid.distribution`) as a single-line drawing coloured by forecast loading, a heat strip
per branch over the day, and the congestion points with their needs.

The drawing has no geographic coordinates (SimBench extracts carry none): buses are laid out as the
tree they form from the external grid, depth to the right, one row per leaf.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache

import numpy as np

from gridflex.grid.distribution.congestion import Limits, forecast
from gridflex.grid.distribution.gridfile import load_grid
from gridflex.grid.distribution.model import DistributionNetwork
from gridflex.grid.distribution.stress import SCENARIOS, stress

__all__ = ["FeederView", "feeder_view", "layout", "loading_colour"]

STRIP_BRANCHES = 24  # the most loaded branches get a heat strip


def loading_colour(pct: float) -> str:
    """Green below 70 %, amber to 100 %, red above (a colour-blind-safe ramp would be better; the
    numbers are in the table and in each element's title)."""
    if not np.isfinite(pct):
        return "#9aa4ae"
    stops = [
        (0, (26, 127, 55)),
        (70, (26, 127, 55)),
        (90, (237, 174, 73)),
        (100, (209, 73, 91)),
        (150, (120, 0, 20)),
    ]
    for (a, ca), (b, cb) in itertools.pairwise(stops):
        if pct <= b:
            f = 0.0 if b == a else (max(pct, a) - a) / (b - a)
            return "#{:02x}{:02x}{:02x}".format(
                *tuple(round(x + f * (y - x)) for x, y in zip(ca, cb, strict=True))
            )
    return "#780014"


def layout(net: DistributionNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Bus positions (depth, row): breadth-first from the external grid over closed branches."""
    n = len(net.bus)
    ends = [
        (int(a), int(b))
        for a, b, c1, c2 in zip(
            net.line.from_bus, net.line.to_bus, net.line.from_closed, net.line.to_closed, strict=True
        )
        if c1 and c2
    ]
    ends += [(int(a), int(b)) for a, b in zip(net.trafo.hv_bus, net.trafo.lv_bus, strict=True)]
    nbrs: dict[int, list[int]] = {i: [] for i in range(n)}
    for a, b in ends:
        nbrs[a].append(b)
        nbrs[b].append(a)
    depth = np.full(n, -1)
    row = np.zeros(n)
    next_row = 0
    roots = [int(b) for b in net.ext_grid.bus] or [0]
    for root in [*roots, *range(n)]:  # then any island, so that every bus has a place
        if depth[root] >= 0:
            continue
        depth[root] = 0
        stack = [root]
        while stack:  # depth-first: a branch's buses stay on neighbouring rows
            bus = stack.pop()
            kids = [k for k in nbrs[bus] if depth[k] < 0]
            if not kids:
                row[bus] = next_row
                next_row += 1
            for k in kids:
                depth[k] = depth[bus] + 1
            stack.extend(reversed(kids))
            if kids:
                row[bus] = next_row
    return depth.astype(float), row


@dataclass(frozen=True)
class FeederView:
    network: str
    day: date
    stress: str
    start: datetime
    branch_names: list[str]
    branch_ends: list[tuple[int, int]]
    loading_pct: np.ndarray  # (periods, branches)
    voltage_pu: np.ndarray  # (periods, buses)
    x: np.ndarray
    y: np.ndarray
    points: list[dict[str, object]]
    limit_pct: float

    @property
    def max_loading(self) -> np.ndarray:
        return np.nanmax(self.loading_pct, axis=0)

    def strip(self) -> list[int]:
        """The branches with a heat strip: the most loaded first."""
        return [int(i) for i in np.argsort(-np.nan_to_num(self.max_loading))[:STRIP_BRANCHES]]


@lru_cache(maxsize=8)
def feeder_view(network: str, day: date, stress_name: str) -> FeederView:
    """The day's forecast (96 quarter-hours, UTC) of a shipped grid under a stress scenario."""
    case = load_grid(network)
    net = case.network
    start = datetime.combine(day, time())  # the profiles' times are naive UTC
    series = stress(net, case.profiles.series(net, start=start, periods=96), SCENARIOS[stress_name])
    limits = Limits()
    fc = forecast(net, series, limits)
    h = fc.result.step_min / 60
    points = []
    for cp in fc.points:
        need = cp.requested_mw
        points.append({
            "name": cp.name,
            "causes": ", ".join(f"{v.name} ({v.quantity} {v.worst:.3g})" for v in cp.violations[:4]),
            "connections": len(cp.connection_buses),
            "up_kwh": float(need.clip(0).sum() * h * 1000),
            "down_kwh": float((-need).clip(0).sum() * h * 1000),
            "peak_kw": float(np.abs(need).max() * 1000),
            "periods": int((need != 0).sum()),
            "first": fc.result.times()[int(np.flatnonzero(need)[0])] if need.any() else None,
        })  # fmt: skip
    x, y = layout(net)
    ends = [(int(a), int(b)) for a, b in zip(net.line.from_bus, net.line.to_bus, strict=True)]
    ends += [(int(a), int(b)) for a, b in zip(net.trafo.hv_bus, net.trafo.lv_bus, strict=True)]
    return FeederView(
        network=network, day=day, stress=stress_name, start=fc.result.start, branch_names=[str(s) for s in net.branch_names()],
        branch_ends=ends, loading_pct=fc.result.branch_loading_pct, voltage_pu=fc.result.voltage_pu,
        x=x, y=y, points=points, limit_pct=limits.loading_pct,
    )  # fmt: skip

"""The result of scheduling a site: flows per asset and carrier, states of charge, costs, flexibility.

Everything is plain arrays, one value per period (DataFrame-friendly: :meth:`SiteResult.to_frame`).
Sign: positive = consumption; a grid connection reports the site's net draw from its network
(import − export). Costs are EUR over the horizon; revenue is negative (``feed_in``). Flexibility:
**up** = more power into the grid (less consumption or more production), **down** = less power
into the grid, per period, for the site and per asset (:mod:`gridflex.scheduling.flexibility`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridflex.timegrid import TimeGrid

COST_TERMS = (
    "energy", "intraday", "tariff", "co2", "peak", "degradation", "penalty", "self_consumption", "feed_in",
    "reserve_availability", "reserve_activation", "dso_availability", "dso_activation", "capacity_availability",
)  # fmt: skip
"""The cost terms of a site result in the order every table shows them: what is paid for energy and
its use, then revenue (negative costs: feed-in, services); ``total`` comes last."""


FLEX_CONVENTION = (
    "up = more power into the grid (less consumption or more production), down = less power into the grid"
)
"""The one up/down convention of gridflex, written into every result file."""


def ordered_costs(costs: dict[str, float]) -> dict[str, float]:
    """``costs`` in :data:`COST_TERMS` order, other terms after them by name, ``total`` last."""
    known = [k for k in COST_TERMS if k in costs]
    other = sorted(k for k in costs if k not in COST_TERMS and k != "total")
    out = {k: costs[k] for k in known + other}
    if "total" in costs:
        out["total"] = costs["total"]
    return out


@dataclass
class SiteResult:
    """Schedule of a site; see the module docstring for signs and units."""

    site: str
    grid: TimeGrid
    tz: tzinfo | str
    kinds: dict[str, str]
    power_kw: dict[str, dict[str, np.ndarray]]  # asset → carrier → kW per period
    soc_kwh: dict[str, np.ndarray]  # stores: energy at the end of each period
    flex_up_kw: np.ndarray  # how much more power the site could put into the grid, per period
    flex_down_kw: np.ndarray  # how much less power it could put into the grid (more import), per period
    costs_eur: dict[str, float]
    status: str
    is_mip: bool
    exclusivity_binaries: list[str] = field(default_factory=list)
    mip_gap: float = float("nan")
    time_build_s: float = 0.0
    time_solver_s: float = 0.0
    strategy: str = ""  # how energy and services were decided (cooptimised, ..., two_loop)
    service_kw: dict[str, np.ndarray] = field(default_factory=dict)  # service → committed kW per period
    service_blocks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # blocks / DSO windows
    service_allocation_kw: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # → asset → kW
    service_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind, direction, duration, ...
    # measured realised runs (MPC): service → provider → kW of its allocation it could not hold
    service_undelivered_kw: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    flex_by_asset_kw: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # asset → up/down
    second_loop: dict[str, float] = field(default_factory=dict)  # strategy two_loop: its value, EUR, kWh

    @property
    def revenue_eur(self) -> dict[str, float]:
        """Revenue per source, positive (export at feed-in / market prices, intraday sales)."""
        keys = ("feed_in", "reserve_availability", "reserve_activation", "dso_availability", "dso_activation",
                "capacity_availability")  # fmt: skip
        return {k: -self.costs_eur.get(k, 0.0) for k in keys if k == "feed_in" or k in self.costs_eur}

    def net_import_kw(self, carrier: str = "electricity") -> np.ndarray:
        """Site net import of a carrier over all its grid connections (kW, + = draw)."""
        total = np.zeros(self.grid.n)
        for name, kind in self.kinds.items():
            if kind == "grid_connection" and carrier in self.power_kw[name]:
                total = total + self.power_kw[name][carrier]
        return total

    def to_frame(self) -> pd.DataFrame:
        """One row per period (UTC start), columns ``power_kw/<asset>/<carrier>``, ``soc_kwh/<asset>``,
        ``flex_up_kw``, ``flex_down_kw`` (up = more power into the grid), per asset ``flex_up_kw/<asset>``
        and ``flex_down_kw/<asset>``, and per service ``service_kw/<service>`` (committed) and
        ``service_kw/<service>/<asset>`` (its share)."""
        cols: dict[str, np.ndarray] = {}
        for asset, flows in self.power_kw.items():
            for carrier, kw in flows.items():
                cols[f"power_kw/{asset}/{carrier}"] = np.asarray(kw, dtype=float)
        for asset, e in self.soc_kwh.items():
            cols[f"soc_kwh/{asset}"] = e
        cols["flex_up_kw"] = self.flex_up_kw
        cols["flex_down_kw"] = self.flex_down_kw
        for asset, ud in self.flex_by_asset_kw.items():
            cols[f"flex_up_kw/{asset}"] = ud["up"]
            cols[f"flex_down_kw/{asset}"] = ud["down"]
        for name, kw in self.service_kw.items():
            cols[f"service_kw/{name}"] = kw
            for asset, a in self.service_allocation_kw.get(name, {}).items():
                cols[f"service_kw/{name}/{asset}"] = a
        return pd.DataFrame(cols, index=self.grid.index.rename("start_utc"))

    def to_dict(self) -> dict[str, Any]:
        def arr(a: np.ndarray) -> list[float]:
            return [round(float(v), 9) for v in a]

        return {
            "site": self.site,
            "status": self.status,
            "is_mip": self.is_mip,
            "exclusivity_binaries": self.exclusivity_binaries,
            "time": {
                "start": self.grid.start.isoformat(),
                "step_s": self.grid.step_s,
                "n_periods": self.grid.n,
                "timezone": str(self.tz),
            },
            "costs_eur": {k: round(v, 6) for k, v in self.costs_eur.items()},
            "revenue_eur": {k: round(v, 6) for k, v in self.revenue_eur.items()},
            "timings_s": {"time_build_s": self.time_build_s, "time_solver_s": self.time_solver_s},
            "assets": {
                name: {
                    "kind": self.kinds[name],
                    "power_kw": {c: arr(v) for c, v in flows.items()},
                    **({"soc_kwh": arr(self.soc_kwh[name])} if name in self.soc_kwh else {}),
                }
                for name, flows in self.power_kw.items()
            },
            "flexibility_kw": {
                "convention": FLEX_CONVENTION,
                "up": arr(self.flex_up_kw),
                "down": arr(self.flex_down_kw),
                "assets": {a: {k: arr(v) for k, v in ud.items()} for a, ud in self.flex_by_asset_kw.items()},
            },
            **({"strategy": self.strategy} if self.strategy else {}),
            **({"services": self._services_dict(arr)} if self.service_kw else {}),
            **(
                {"second_loop": {k: round(v, 6) for k, v in self.second_loop.items()}}
                if self.second_loop
                else {}
            ),
        }

    def _services_dict(self, arr: Any) -> dict[str, Any]:
        return {
            name: {
                **self.service_info.get(name, {}),
                "committed_kw": arr(kw),
                "blocks": self.service_blocks.get(name, []),
                "allocation_kw": {a: arr(v) for a, v in self.service_allocation_kw.get(name, {}).items()},
            }
            for name, kw in self.service_kw.items()
        }

    def to_json(self, path: str | Path | None = None, indent: int | None = 1) -> str:
        """The result as JSON text (written to ``path`` if given)."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False, default=_nan_free)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_csv(self, path: str | Path | None = None) -> str:
        """The :meth:`to_frame` table as CSV (written to ``path`` if given)."""
        text = self.to_frame().to_csv()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def _nan_free(o: Any) -> Any:  # pragma: no cover - only non-JSON types reach here
    return str(o)

"""Small site builders shared by the scheduling and asset tests."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from gridflex.scheduling import SiteResult, parse_site

START = "2018-06-12T00:00:00+02:00"


def site(
    assets: list[dict], n: int = 24, step_s: int = 3600, prices: Any = 50.0, more_prices: dict | None = None
):
    data: dict[str, Any] = {
        "name": "test",
        "time": {"start": START, "step_s": step_s, "n_periods": n, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": prices if not isinstance(prices, np.ndarray) else list(prices)},
        "assets": assets,
    }
    data["prices"].update(more_prices or {})
    return parse_site(data)


def grid(**kw: Any) -> dict:
    return {"kind": "grid_connection", "name": "grid", **kw}


def balance_residual(result: SiteResult) -> dict[str, np.ndarray]:
    """Per carrier: Σ consumption of non-grid assets − Σ net draw from grid connections (should be 0)."""
    out: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(result.grid.n))
    for name, flows in result.power_kw.items():
        sign = -1.0 if result.kinds[name] == "grid_connection" else 1.0
        for carrier, kw in flows.items():
            out[carrier] = out[carrier] + sign * np.asarray(kw)
    return dict(out)

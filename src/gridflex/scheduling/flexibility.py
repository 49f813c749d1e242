"""Available up/down flexibility of a site in electricity, per period.

The rule (one period at a time, the rest of the schedule unchanged):

* **up** = how much more the site could import (or less export) in the period; **down** = how much
  less it could import (or more export).
* Stores on an electricity bus (batteries, EVs while plugged): power room up to their limits,
  and the stored-energy room from the period on, limits, targets and EV needs included
  (:func:`gridflex.assets.base.storage_headroom`).
* Curtailable PV: up = its production (curtail it), down = its curtailed part (release it).
* Converters touching electricity (heat pump, electric boiler, electrolyser, CHP, fuel cell): the
  change of their input that moves their electricity flow by Δ moves their other buses too; that
  must be absorbed by the other buses' stores and network connections (a heat pump is flexible
  only with a heat store or a heat network). When several converters lean on the same bus, its
  headroom is shared in proportion to what they ask.
* Inflexible loads and shiftable processes count zero (their flexibility is in time, not power).
* The sum is capped by the electricity grid connections' room: up by the import room (import
  limit − import + export), down by the export room.
"""

from __future__ import annotations

import numpy as np

from gridflex.assets.base import ELECTRICITY, Output


def _is_elec(bus: str) -> bool:
    return bus.split("@", 1)[0] == ELECTRICITY


def site_flexibility(outputs: dict[str, Output]) -> tuple[np.ndarray, np.ndarray]:
    """(up_kw, down_kw) per period for the site's electricity connection(s); see the module rule."""
    flexes = [o.flex for o in outputs.values() if o.flex is not None]
    n = next(iter(next(iter(outputs.values())).power_kw.values())).size if outputs else 0
    zero = np.zeros(n)
    avail_up: dict[str, np.ndarray] = {}
    avail_down: dict[str, np.ndarray] = {}
    grid_up, grid_down = zero.copy(), zero.copy()
    direct_up, direct_down = zero.copy(), zero.copy()
    for f in flexes:
        if f.bus is None:
            continue
        if _is_elec(f.bus):
            if f.is_grid:
                # The connection's "down" (take less from the bus) is the room to import more.
                grid_up, grid_down = grid_up + f.down_kw, grid_down + f.up_kw
            else:
                direct_up, direct_down = direct_up + f.up_kw, direct_down + f.down_kw
        else:
            avail_up[f.bus] = avail_up.get(f.bus, zero) + f.up_kw
            avail_down[f.bus] = avail_down.get(f.bus, zero) + f.down_kw
    conv_up = _converters(flexes, avail_up, avail_down, zero, up=True)
    conv_down = _converters(flexes, avail_up, avail_down, zero, up=False)
    up = np.minimum(direct_up + conv_up, grid_up)
    down = np.minimum(direct_down + conv_down, grid_down)
    return np.maximum(up, 0.0), np.maximum(down, 0.0)


def _converters(flexes, avail_up, avail_down, zero: np.ndarray, up: bool) -> np.ndarray:
    """Electric headroom of converters in one direction, limited by their other buses' headroom."""
    items = []  # (δ_max, {bus: request per unit δ: + = others must take more})
    need_up: dict[str, np.ndarray] = {}
    need_down: dict[str, np.ndarray] = {}
    for f in flexes:
        if f.coef is None:
            continue
        a_e = sum((c for b, c in f.coef.items() if _is_elec(b)), zero)
        if not np.any(a_e):
            continue
        safe = np.where(a_e != 0, a_e, 1.0)
        # Raising electric consumption by δ: input moves by δ/a_e (up if a_e > 0, down if a_e < 0).
        if up:
            delta = np.where(a_e > 0, a_e * f.up_kw, -a_e * f.down_kw)
        else:
            delta = np.where(a_e > 0, a_e * f.down_kw, -a_e * f.up_kw)
        delta = np.where(a_e != 0, np.maximum(delta, 0.0), 0.0)
        sign = 1.0 if up else -1.0
        req = {b: -sign * c / safe for b, c in f.coef.items() if not _is_elec(b)}
        for b, r in req.items():
            need_up[b] = need_up.get(b, zero) + np.maximum(r, 0.0) * delta
            need_down[b] = need_down.get(b, zero) + np.maximum(-r, 0.0) * delta
        items.append((delta, req))
    total = zero.copy()
    for delta, req in items:
        factor = np.ones_like(zero)
        for b, r in req.items():
            f_up = _share(avail_up.get(b, zero), need_up[b])
            f_down = _share(avail_down.get(b, zero), need_down[b])
            factor = np.minimum(factor, np.where(r > 0, f_up, np.where(r < 0, f_down, 1.0)))
        total = total + delta * factor
    return total


def _share(avail: np.ndarray, need: np.ndarray) -> np.ndarray:
    return np.where(
        need > 1e-12, np.minimum(1.0, np.maximum(avail, 0.0) / np.where(need > 1e-12, need, 1.0)), 1.0
    )

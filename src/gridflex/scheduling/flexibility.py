"""Available up/down flexibility in electricity, per period, per asset and for the site.

Convention (the house plan's, as TSOs and DSOs use the words): **up** = more power into the grid
(less consumption or more production), **down** = less power into the grid (more consumption or
less production). The rule, one period at a time, the rest of the schedule unchanged:

* Stores on an electricity bus (batteries, EVs while plugged): up = discharge more / charge less,
  down = the reverse, within their power limits and the stored-energy room from the period on,
  limits, targets and EV needs included (:func:`gridflex.assets.base.storage_headroom`).
* Curtailable PV: up = release its curtailed part, down = curtail its production.
* Converters touching electricity (heat pump, electric boiler, electrolyser, CHP, fuel cell): the
  change of their input that moves their electricity flow by Δ moves their other buses too; that
  must be absorbed by the other buses' stores and network connections (a heat pump is flexible
  only with a heat store or a heat network). When several converters lean on the same bus, its
  headroom is shared in proportion to what they ask.
* Inflexible loads and shiftable processes count zero (their flexibility is in time, not power).
* Per asset, the values are what the asset could move on its own behind the meter; the site's
  value is their sum capped by the electricity grid connections' room: up by the export room
  (export limit − export + import), down by the import room.
"""

from __future__ import annotations

import numpy as np

from gridflex.assets.base import ELECTRICITY, Flex, Output


def _is_elec(bus: str) -> bool:
    return bus.split("@", 1)[0] == ELECTRICITY


def asset_flexibility(outputs: dict[str, Output]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Asset name → (up_kw, down_kw) per period in electricity, for every asset that can move it."""
    flexes = {name: o.flex for name, o in outputs.items() if o.flex is not None}
    zero = _zeros(outputs)
    avail_up: dict[str, np.ndarray] = {}
    avail_down: dict[str, np.ndarray] = {}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, f in flexes.items():
        if f.bus is None or f.is_grid:
            continue
        if _is_elec(f.bus):
            # An asset's flex is in its bus's sense ("up" = take more): more taken = less into the grid.
            out[name] = (np.maximum(f.down_kw, 0.0), np.maximum(f.up_kw, 0.0))
        else:
            avail_up[f.bus] = avail_up.get(f.bus, zero) + f.up_kw
            avail_down[f.bus] = avail_down.get(f.bus, zero) + f.down_kw
    # Converters: "take more electricity" (bus sense) is grid down, "take less" is grid up.
    more = _converters(flexes, avail_up, avail_down, zero, up=True)
    less = _converters(flexes, avail_up, avail_down, zero, up=False)
    for name in more:
        out[name] = (np.maximum(less[name], 0.0), np.maximum(more[name], 0.0))
    return out


def site_flexibility(outputs: dict[str, Output]) -> tuple[np.ndarray, np.ndarray]:
    """(up_kw, down_kw) per period for the site's electricity connection(s); see the module rule."""
    up, down = _zeros(outputs), _zeros(outputs)
    for a_up, a_down in asset_flexibility(outputs).values():
        up, down = up + a_up, down + a_down
    export_room, import_room = _zeros(outputs), _zeros(outputs)
    for o in outputs.values():
        f = o.flex
        if f is not None and f.is_grid and f.bus is not None and _is_elec(f.bus):
            # A connection "takes" from the bus what it exports: its up is the room to export more.
            export_room, import_room = export_room + f.up_kw, import_room + f.down_kw
    return np.maximum(np.minimum(up, export_room), 0.0), np.maximum(np.minimum(down, import_room), 0.0)


def _zeros(outputs: dict[str, Output]) -> np.ndarray:
    n = next(iter(next(iter(outputs.values())).power_kw.values())).size if outputs else 0
    return np.zeros(n)


def _converters(
    flexes: dict[str, Flex], avail_up: dict[str, np.ndarray], avail_down: dict[str, np.ndarray],
    zero: np.ndarray, up: bool,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Per converter, how much more (``up``) or less electricity it could take from its bus,
    limited by its other buses' headroom (shared pro rata when several lean on one bus)."""
    items = []  # (name, δ_max, {bus: request per unit δ: + = others must take more})
    need_up: dict[str, np.ndarray] = {}
    need_down: dict[str, np.ndarray] = {}
    for name, f in flexes.items():
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
        items.append((name, delta, req))
    out: dict[str, np.ndarray] = {}
    for name, delta, req in items:
        factor = np.ones_like(zero)
        for b, r in req.items():
            f_up = _share(avail_up.get(b, zero), need_up[b])
            f_down = _share(avail_down.get(b, zero), need_down[b])
            factor = np.minimum(factor, np.where(r > 0, f_up, np.where(r < 0, f_down, 1.0)))
        out[name] = delta * factor
    return out


def _share(avail: np.ndarray, need: np.ndarray) -> np.ndarray:
    return np.where(
        need > 1e-12, np.minimum(1.0, np.maximum(avail, 0.0) / np.where(need > 1e-12, need, 1.0)), 1.0
    )

"""Indoor and compartment temperatures of a schedule's thermal zones (buildings, fridges, freezers).

The temperatures follow from the heat each zone received (:mod:`gridflex.assets.thermal`, exact
1R1C recurrence), so they are computed from the result's flows rather than stored in it.
"""

from __future__ import annotations

import numpy as np

from gridflex.assets.thermal import ZoneBase, free_temperatures
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.site import SiteLike, compile_site


def zone_temperatures(site: SiteLike, result: SiteResult) -> dict[str, np.ndarray]:
    """Asset name → temperature (°C) at the end of each period, for every thermal zone of the site."""
    compiled = compile_site(site)
    ctx = compiled.context(None)  # type: ignore[arg-type]  # series and times only: no model is built
    out = {}
    for a in compiled.site.assets:
        if isinstance(a, ZoneBase):
            out[a.name] = free_temperatures(a.zone(ctx), a.heat_into_zone(result.power_kw[a.name]), ctx.dt_h)
    return out

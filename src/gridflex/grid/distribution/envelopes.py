"""Dynamic operating envelopes: per connection bus and period, the import and export that keep every limit.

Each connection is taken alone, the others at their forecast: from the sensitivities at the forecast
operating point, the largest net consumption (import) and net production (export) at that bus before
any loading or voltage reaches its limit (tightened by the margins of ``Limits``). Linear, so an
envelope is exact for small moves and slightly optimistic for large ones; not additive over
connections (two connections using their whole envelope at once can break a limit). MW, house sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from gridflex.grid.distribution.congestion import Limits, bound_change
from gridflex.grid.distribution.model import DistributionNetwork
from gridflex.grid.distribution.powerflow import PowerFlow, PowerFlowResult
from gridflex.grid.distribution.profiles import ElementSeries
from gridflex.grid.distribution.sensitivity import Sensitivities

ENVELOPE_CAP_MW = 1e3  # "no limit in reach": JSON-friendly instead of infinity


@dataclass
class OperatingEnvelopes:
    """``import_limit_mw[t, c]`` and ``export_limit_mw[t, c]`` for connection bus ``c`` (both ≥ 0 when the
    forecast itself is within limits; a negative import limit means the bus must export to meet them)."""

    start: datetime
    step_min: int
    connection_names: np.ndarray
    forecast_mw: np.ndarray  # (periods, connections): forecast net consumption
    import_limit_mw: np.ndarray
    export_limit_mw: np.ndarray

    def to_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "step_min": self.step_min,
            "sign_convention": "import = consumption, export = production, MW at the connection bus",
            "connections": {
                str(name): {
                    "forecast_mw": np.round(self.forecast_mw[:, c], 6).tolist(),
                    "import_limit_mw": np.round(self.import_limit_mw[:, c], 6).tolist(),
                    "export_limit_mw": np.round(self.export_limit_mw[:, c], 6).tolist(),
                }
                for c, name in enumerate(self.connection_names)
            },
        }


def operating_envelopes(
    net: DistributionNetwork,
    series: ElementSeries,
    result: PowerFlowResult,
    sens: Sensitivities,
    limits: Limits | None = None,
    pf: PowerFlow | None = None,
    refine: int = 3,
) -> OperatingEnvelopes:
    """Envelopes from the sensitivities, then ``refine`` secant corrections: every connection at its
    envelope (one batch power flow of connections × periods), the move scaled so that the worst limit
    is just met. Without them, moves of tens of MW overshoot a loading limit by several points."""
    limits = limits or Limits()
    n_t, n_c = result.periods, len(sens.connection_bus)
    bus_of = net.element_bus()
    forecast = np.zeros((n_t, n_c))
    for c, b in enumerate(sens.connection_bus):
        forecast[:, c] = series.p_mw[:, bus_of == b].sum(axis=1)
    room_l = (limits.loading_pct - limits.loading_margin_pct) - result.branch_loading_pct
    x_v = np.nan_to_num(result.voltage_pu, nan=1.0)
    room_hi = (limits.voltage_max_pu - limits.voltage_margin_pu) - x_v
    room_lo = (limits.voltage_min_pu + limits.voltage_margin_pu) - x_v
    imp = np.empty((n_t, n_c))
    exp = np.empty((n_t, n_c))
    for c in range(n_c):
        lo, hi = np.full(n_t, -np.inf), np.full(n_t, np.inf)
        s_l = sens.loading_pct_per_mw[:, :, c]
        bound_change(lo, hi, s_l, room_l, upper=True)
        bound_change(
            lo, hi, s_l, room_l - 2 * (limits.loading_pct - limits.loading_margin_pct), upper=False
        )  # reversed flow
        s_v = np.nan_to_num(sens.voltage_pu_per_mw[:, :, c])
        bound_change(lo, hi, s_v, room_hi, upper=True)
        bound_change(lo, hi, s_v, room_lo, upper=False)
        imp[:, c] = np.minimum(forecast[:, c] + hi, ENVELOPE_CAP_MW)
        exp[:, c] = np.minimum(-(forecast[:, c] + lo), ENVELOPE_CAP_MW)
    if refine and pf is not None:
        imp = forecast + _secant(net, series, pf, sens.connection_bus, imp - forecast, limits, refine)
        exp = -(forecast + _secant(net, series, pf, sens.connection_bus, -exp - forecast, limits, refine))
    return OperatingEnvelopes(series.start, series.step_min, sens.connection_names, forecast, imp, exp)


def _excess(result: PowerFlowResult, limits: Limits) -> np.ndarray:
    """Worst limit excess per period, in limit units (loading / 100 %, voltage / 0.1 pu); ≤ 0 = within."""
    lim_l = limits.loading_pct - limits.loading_margin_pct
    v = result.voltage_pu
    with np.errstate(invalid="ignore"):
        ex_v = np.nanmax(
            np.maximum(v - (limits.voltage_max_pu - limits.voltage_margin_pu),
                       (limits.voltage_min_pu + limits.voltage_margin_pu) - v), axis=1,
        ) / 0.1  # fmt: skip
    ex_l = (
        (result.branch_loading_pct.max(axis=1) - lim_l) / 100 if result.branch_loading_pct.size else -np.inf
    )
    return np.maximum(ex_l, ex_v)


def _secant(
    net: DistributionNetwork,
    series: ElementSeries,
    pf: PowerFlow,
    buses: np.ndarray,
    move: np.ndarray,
    limits: Limits,
    passes: int,
) -> np.ndarray:
    n_t, n_c = move.shape
    bus_of = net.element_bus()
    element = np.array([np.flatnonzero(bus_of == b)[0] for b in buses])
    h0 = np.tile(_excess(pf.run(series), limits), n_c)  # (connections × periods), at the forecast
    m = move.T.ravel().copy()  # connection-major, as the stacked series below
    reach = np.abs(m) < ENVELOPE_CAP_MW / 2  # an envelope at the cap has no limit in reach
    p = np.tile(series.p_mw, (n_c, 1))
    q = np.tile(series.q_mvar, (n_c, 1))
    rows = np.arange(n_c * n_t)
    cols = np.repeat(element, n_t)
    for _ in range(passes):
        trial = p.copy()
        trial[rows, cols] += np.where(reach, m, 0.0)
        h1 = _excess(pf.run(ElementSeries(series.start, series.step_min, series.names, trial, q)), limits)
        ok = reach & np.isfinite(h1) & (np.abs(h1 - h0) > 1e-12)
        m = np.where(ok, m * (0 - h0) / np.where(ok, h1 - h0, 1.0), m)  # secant through (0, h0), (m, h1)
    return m.reshape(n_c, n_t).T

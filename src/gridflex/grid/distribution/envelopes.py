"""Dynamic operating envelopes: per connection bus and period, the import and export that keep every limit.

Each connection is taken alone, the others at their forecast: from the sensitivities at the forecast
operating point, the largest net consumption (import) and net production (export) at that bus before
any loading or voltage reaches its limit (tightened by the margins of ``Limits``). Linear, so an
envelope is exact for small moves and slightly optimistic for large ones; not additive over
connections (two connections using their whole envelope at once can break a limit). MW, house sign.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from gridflex.errors import Problem, ValidationError
from gridflex.grid.distribution.congestion import Limits, bound_change
from gridflex.grid.distribution.model import DistributionNetwork
from gridflex.grid.distribution.powerflow import PowerFlow, PowerFlowResult
from gridflex.grid.distribution.profiles import ElementSeries
from gridflex.grid.distribution.sensitivity import Sensitivities

ENVELOPE_CAP_MW = 1e3  # "no limit in reach": JSON-friendly instead of infinity
MAX_LIMIT_KW = 1e6  # the largest congestion limit a CEM accepts (gridflex.s2.admin.MAX_LIMIT_KW)


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

    def congestion_limit(
        self, connection: str, planned_import_kw: np.ndarray | None = None, share: float = 1.0
    ) -> dict[str, Any]:
        """The envelope of connection bus ``connection`` as the congestion limits of a site's CEM behind
        it: one ``set_congestion_limit`` command of the CEM's ``/admin`` WebSocket (JSON-ready; without
        ``action``, the keyword arguments of ``CEM.set_congestion_limit``), kW per period from
        ``start``.

        With ``planned_import_kw`` (the site's plan, kW per period, + = import), the site may move
        ``share`` of the bus's room: import at most plan + share × (import limit − forecast), export at
        most −plan + share × (export limit + forecast); a bus over its limits gives a cap below the
        plan: the site must move that far. Without a plan: ``share`` × the bus's own envelope. Caps
        are ≥ 0 (a CEM cannot be told to export); a side with no limit in reach is ``None``.
        """
        problems = []
        hit = np.flatnonzero(self.connection_names.astype(str) == connection)
        if not len(hit):
            problems.append(Problem(connection, "connection", "not a connection bus of these envelopes"))
        if not (isinstance(share, int | float) and 0 < share <= 1):
            problems.append(Problem(connection, "share", f"in (0, 1], got {share!r}"))
        n = len(self.forecast_mw)
        plan = None if planned_import_kw is None else np.asarray(planned_import_kw, dtype=float)
        if plan is not None and (plan.shape != (n,) or not np.isfinite(plan).all()):
            problems.append(
                Problem(connection, "planned_import_kw", f"{n} finite values expected, one per period")
            )
        if problems:
            raise ValidationError("operating envelope", problems)
        c = int(hit[0])
        imp, exp, fc = (a[:, c] * 1e3 for a in (self.import_limit_mw, self.export_limit_mw, self.forecast_mw))
        free_imp, free_exp = imp >= ENVELOPE_CAP_MW * 1e3, exp >= ENVELOPE_CAP_MW * 1e3
        if plan is None:
            cap_imp, cap_exp = share * imp, share * exp
        else:
            cap_imp, cap_exp = plan + share * (imp - fc), -plan + share * (exp + fc)

        def side(cap: np.ndarray, free: np.ndarray) -> list[float] | None:
            if free.all():
                return None
            return np.round(np.clip(np.where(free, MAX_LIMIT_KW, cap), 0.0, MAX_LIMIT_KW), 3).tolist()

        start = self.start if self.start.tzinfo is not None else self.start.replace(tzinfo=UTC)
        return {"action": "set_congestion_limit", "import_kw": side(cap_imp, free_imp),
                "export_kw": side(cap_exp, free_exp), "start": start.isoformat(), "step_s": self.step_min * 60}  # fmt: skip


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
    for k in range(passes + 8):
        trial = p.copy()
        trial[rows, cols] += np.where(reach, m, 0.0)
        # NaN where the move lies past the voltage collapse (a linear envelope of tens of MW at one
        # bus can): no power flow converges there
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
            h1 = _excess(
                pf.run(ElementSeries(series.start, series.step_min, series.names, trial, q), tolerant=True),
                limits,
            )
        lost = reach & ~np.isfinite(h1)
        if k >= passes and not lost.any():
            break
        m = np.where(lost, m / 2, m)  # the limit lies before: come back halfway
        if k >= passes:
            continue  # the last secant step is made: only bring the lost ones back
        ok = reach & np.isfinite(h1) & (np.abs(h1 - h0) > 1e-12)
        m = np.where(ok, m * (0 - h0) / np.where(ok, h1 - h0, 1.0), m)  # secant through (0, h0), (m, h1)
    return m.reshape(n_c, n_t).T

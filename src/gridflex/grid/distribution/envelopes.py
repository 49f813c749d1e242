"""Dynamic operating envelopes: per connection bus and period, the import and export that keep every limit.

The envelopes are **shared**: every connection may use its whole envelope at the same time, in any
combination of import and export, and the feeder stays within its limits (tightened by the margins of
``Limits``). Each limit's headroom is shared among the connections that move it, max-min fair in MW:
every connection gets the same headroom unless a limit binds it first, and no envelope can be widened
without narrowing another (water-filling over the linear sensitivities, then AC corrections). Over a
forecast that itself breaks a limit the headroom is negative and shared the same way: the connections
of the congestion point each give up the same MW. Compute them on the cleared series
(``relieve_by_market(...).relieved``) to keep only what the market bought. MW, house sign.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from gridflex.errors import Problem, ValidationError
from gridflex.grid.distribution.congestion import Limits
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
    """Shared envelopes (module doc) at the operating points of ``result`` (the power flow of ``series``).

    Per period, every limit is a linear constraint on the changes of the connections' consumption;
    with each connection anywhere in its box ``[-export, import]`` the worst case of a constraint is
    linear in the headrooms, and max-min fair water-filling shares them. With ``pf``, ``refine`` AC
    corrections: every connection at its import limit, then at its export limit (one batch power
    flow), and each constraint's room corrected by what the linearisation missed at the corner
    nearer its limit."""
    limits = limits or Limits()
    n_t, n_c = result.periods, len(sens.connection_bus)
    bus_of = net.element_bus()
    forecast = np.zeros((n_t, n_c))
    for c, b in enumerate(sens.connection_bus):
        forecast[:, c] = series.p_mw[:, bus_of == b].sum(axis=1)
    g0, rhs = _constraints(result, limits)  # (periods, rows): quantity and its limit, both "≤"
    a = _rows(sens)  # (periods, rows, connections): change of each row per MW of consumption
    err = np.zeros_like(g0)
    element = np.array([np.flatnonzero(bus_of == b)[0] for b in sens.connection_bus])
    shrink = np.ones((2 * n_t, 1))  # per corner and period: halved where no power flow converges
    base_ok = np.isfinite(result.branch_loading_pct).all(axis=1)
    corrected = np.zeros(n_t, dtype=np.int64)  # AC corrections made per period (both corners converged)
    for _ in range(refine + 10 if pf is not None else 1):
        up, down = (np.empty((n_t, n_c)) for _ in range(2))
        for t in range(n_t):
            up[t], down[t] = _share(a[t], rhs[t] - g0[t] - err[t])
        # a move past the voltage collapse (tens of MW at one MV bus) comes back halfway
        up, down = (
            np.where((x > 0) & (x < ENVELOPE_CAP_MW), x * f, x)
            for x, f in ((up, shrink[:n_t]), (down, shrink[n_t:]))
        )
        if pf is None:
            break
        # AC at both corners of every box at once; what the linearisation missed tightens (or frees) its row
        move = np.concatenate(
            [np.where(up < ENVELOPE_CAP_MW, up, 0.0), -np.where(down < ENVELOPE_CAP_MW, down, 0.0)]
        )
        trial = np.tile(series.p_mw, (2, 1))
        trial[:, element] += move
        ts = ElementSeries(series.start, series.step_min, series.names, trial, np.tile(series.q_mvar, (2, 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ac = pf.run(ts, tolerant=True)
        lost = np.tile(base_ok, 2) & ~np.isfinite(ac.branch_loading_pct).all(axis=1)
        # where the corrections are made and a corner still breaks a limit itself (far from the
        # operating point the linearisation can mislead them), come back halfway too
        with np.errstate(invalid="ignore"):
            v = ac.voltage_pu
            broken = (
                (ac.branch_loading_pct > limits.loading_pct).any(axis=1)
                | (v > limits.voltage_max_pu).any(axis=1)
                | (v < limits.voltage_min_pu).any(axis=1)
            ) & np.tile(corrected >= refine, 2)
        if (corrected >= refine).all() and not (lost | broken).any():
            break  # every period has its corrections and both its corners a power flow within limits
        shrink[lost | broken] *= 0.5
        corrected += ~(lost[:n_t] | lost[n_t:])
        lin = np.tile(g0, (2, 1)) + np.einsum("trc,tc->tr", np.tile(a, (2, 1, 1)), move)
        got = _values(ac, np.sign(lin[:, : _n_loading(result)]))
        miss = np.where(lost[:, None], 0.0, np.nan_to_num(got - lin, nan=0.0))
        # each row from the corner nearer its limit: the one its worst case is (or is closest to)
        err = np.where(lin[:n_t] >= lin[n_t:], miss[:n_t], miss[n_t:])
    imp = np.minimum(forecast + up, ENVELOPE_CAP_MW)
    exp = np.minimum(down - forecast, ENVELOPE_CAP_MW)
    return OperatingEnvelopes(series.start, series.step_min, sens.connection_names, forecast, imp, exp)


def _n_loading(result: PowerFlowResult) -> int:
    return int(result.branch_loading_pct.shape[1])


def _values(result: PowerFlowResult, sign: np.ndarray | None = None) -> np.ndarray:
    """Per period, the rows' quantities: signed loading, its opposite, voltage, its opposite (loading in
    %, voltage in pu × 1,000 so that a point of loading and a thousandth of pu weigh alike). ``sign``:
    the flow's direction per branch (+1 as in ``result``, -1 reversed)."""
    load = result.branch_loading_pct * (1.0 if sign is None else np.where(sign < 0, -1.0, 1.0))
    v = result.voltage_pu * 1e3
    return np.concatenate([load, -load, v, -v], axis=1)


def _constraints(result: PowerFlowResult, limits: Limits) -> tuple[np.ndarray, np.ndarray]:
    """Row values at the operating point and their limits (less the margins); dead buses never bind."""
    lim_l = limits.loading_pct - limits.loading_margin_pct
    n_b, n_v = result.branch_loading_pct.shape[1], result.voltage_pu.shape[1]
    hi = (limits.voltage_max_pu - limits.voltage_margin_pu) * 1e3
    lo = (limits.voltage_min_pu + limits.voltage_margin_pu) * 1e3
    rhs = np.concatenate([np.full(2 * n_b, lim_l), np.full(n_v, hi), np.full(n_v, -lo)])
    g0 = _values(result)
    dead = ~np.isfinite(g0)
    g0 = np.where(dead, 0.0, g0)
    return g0, np.where(dead, np.inf, np.broadcast_to(rhs, g0.shape))


def _rows(sens: Sensitivities, significant: float = 0.02) -> np.ndarray:
    """Per period, each row's change per MW of consumption at each connection; coefficients below
    ``significant`` × the row's largest (another feeder's loads through the busbar voltage) are left
    out of the sharing: the AC corrections account for them."""
    s_l = sens.loading_pct_per_mw
    s_v = np.nan_to_num(sens.voltage_pu_per_mw) * 1e3
    a = np.concatenate([s_l, -s_l, s_v, -s_v], axis=1)
    return np.where(np.abs(a) >= significant * np.abs(a).max(axis=2, keepdims=True), a, 0.0)


def _share(a: np.ndarray, room: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max-min fair import and export headrooms (MW) of the connections for one period.

    Connection ``c`` may move anywhere in ``[-down_c, up_c]``: row ``r``'s worst case is
    ``Σ a⁺ up + Σ a⁻ down ≤ room_r``. Water-filling: all headrooms rise together; when a row binds,
    the headrooms that move it stop there, the others rise on."""
    n_c = a.shape[1]
    m = np.concatenate([np.clip(a, 0, None), np.clip(-a, 0, None)], axis=1)  # (rows, 2 connections)
    x = np.full(2 * n_c, ENVELOPE_CAP_MW)
    active = np.ones(2 * n_c, dtype=bool)
    used = np.zeros(len(room))
    while active.any():
        rate = m[:, active].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            level = np.where(rate > 0, (room - used) / rate, np.inf)
        low = float(level.min(initial=np.inf))
        if not low < ENVELOPE_CAP_MW:
            break  # nothing left binds: the rest keep the cap
        binding = level <= low + 1e-9 * (1.0 + abs(low))
        stop = active & (m[binding] > 0).any(axis=0)
        x[stop] = low
        used += m[:, stop] @ x[stop]
        active &= ~stop
    return x[:n_c], x[n_c:]


def check_corners(
    net: DistributionNetwork, series: ElementSeries, env: OperatingEnvelopes, pf: PowerFlow, limits: Limits
) -> dict[str, Any]:
    """AC power flows with every connection at its import limit, then at its export limit (a side
    with no limit in reach stays at its forecast): highest loading, voltage range and the periods
    out of ``limits`` at each corner."""
    from gridflex.grid.distribution.relief import violated_periods

    bus_of = net.element_bus()
    bus = {str(n): i for i, n in enumerate(net.bus.name)}
    element = [int(np.flatnonzero(bus_of == bus[str(n)])[0]) for n in env.connection_names]
    out: dict[str, Any] = {}
    for side, target in (("import", env.import_limit_mw), ("export", -env.export_limit_mw)):
        delta = np.zeros_like(series.p_mw)
        delta[:, element] = np.where(np.abs(target) < ENVELOPE_CAP_MW, target - env.forecast_mw, 0.0)
        res = pf.run(series.with_changes(delta))
        out[side] = {
            "max_loading_pct": round(float(res.branch_loading_pct.max(initial=0.0)), 3),
            "min_voltage_pu": round(float(np.nanmin(res.voltage_pu)), 5),
            "max_voltage_pu": round(float(np.nanmax(res.voltage_pu)), 5),
            "periods_out_of_limits": int(violated_periods(net, res, limits).sum()),
        }
    return out

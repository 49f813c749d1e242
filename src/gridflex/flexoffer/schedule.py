"""Scheduling flex-offers against day-ahead prices under an optional portfolio power limit.

Each offer chooses a start shift δ ∈ [0, tf] and one energy per profile interval inside its bounds
(and its total energy constraint), so that the portfolio's energy cost Σ_t price_t · load_t is
minimal and the portfolio load stays within ``[floor_kw, limit_kw]`` in every period.

Two methods, one model:

``"milp"`` (exact, small sets)
    Disjunctive (convex-hull) MILP: a binary y_{g,δ} per start, Σ_δ y = 1, and per start and
    interval an energy z_{g,δ,k} ∈ [l_k·y, u_k·y] (TEC: L·y ≤ Σ_k z_{g,δ,k} ≤ U·y). Its LP
    relaxation (y continuous) gives the lower bound.

``"colgen"`` (large sets)
    Dantzig–Wolfe column generation on the same model: a column is one offer's schedule at one
    start, priced by a vectorized best response to ``price + limit dual`` (a greedy fill for box +
    TEC, exact). The restricted master converges to the LP relaxation of the MILP above, whose value
    is the reported lower bound. An integer schedule is then obtained by fixing each offer's start to
    its heaviest column and re-optimising all energies in one LP with the limits.

The gap reported is ``(cost − lower bound) / max(|cost|, 1e-9)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from gridflex.errors import FlexOfferValidationError, InfeasibleError, Problem, SolverError
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch, Schedule
from gridflex.optimize import Model
from gridflex.timegrid import TimeGrid

MILP_MAX_ELEMENTS = 5_000
"""Above this many start×interval elements, ``method="auto"`` uses column generation: a MILP of
20,000 elements (150 devices aggregated) can spend a minute closing the last 0.01 % of its gap,
where column generation takes under a second with a proven gap of a few 0.01 %."""
AUTO_MILP_TIME_LIMIT_S = 5.0
"""Time limit of the MILP when ``method="auto"`` chose it (or falls back to it), at most ``time_limit_s``."""

_SLACK_PENALTY = 1e4  # EUR per kWh of limit violation in the master; far above any energy price


@dataclass
class ScheduleResult:
    """What the scheduler chose and how good it provably is."""

    schedule: Schedule
    cost_eur: float
    lower_bound_eur: float
    method: str
    load_kwh: np.ndarray  # portfolio energy per grid period
    iterations: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    limits_hit: list[str] = field(default_factory=list)
    """One sentence per limit the solve ran into (MILP time limit, column-generation iterations):
    the schedule is feasible, but :attr:`gap` may be larger than a full solve would give."""
    rejected: dict[str, str] = field(default_factory=dict)
    """Offer id → why it was not scheduled (a deadline passed at ``now_s``). A rejected offer keeps
    start ``NO_TIME`` and NaN energies in :attr:`schedule` and adds nothing to :attr:`load_kwh`."""

    @property
    def gap_eur(self) -> float:
        """Absolute optimality gap: how much cheaper any schedule could possibly be."""
        return max(0.0, self.cost_eur - self.lower_bound_eur)

    @property
    def gap(self) -> float:
        """Relative optimality gap against the LP-relaxation lower bound, ``gap_eur / |cost|``.

        Misleadingly large when the cost itself is near zero (production revenue cancelling
        consumption cost): read :attr:`gap_eur` then.
        """
        return self.gap_eur / max(abs(self.cost_eur), 1e-9)


@dataclass
class _Elements:
    """Every (offer, start shift, profile interval) triple, flat; built once per call."""

    pair_owner: np.ndarray  # offer of each (offer, δ) pair
    pair_delta: np.ndarray  # δ of each pair
    elem_pair: np.ndarray  # pair of each element (sorted)
    elem_flat: np.ndarray  # index into the batch profile arrays
    elem_t: np.ndarray  # grid period
    pair_first: np.ndarray  # first element of each pair
    pair_len: np.ndarray  # number of elements of each pair


def _elements(batch: FlexOfferBatch, base: np.ndarray) -> _Elements:
    tf = batch.time_flex
    n_pairs_per = tf + 1
    pair_owner = np.repeat(np.arange(len(batch)), n_pairs_per)
    pair_start = np.repeat(np.cumsum(n_pairs_per) - n_pairs_per, n_pairs_per)
    pair_delta = np.arange(len(pair_owner)) - pair_start
    lengths = batch.lengths[pair_owner]
    elem_pair = np.repeat(np.arange(len(pair_owner)), lengths)
    elem_k = np.arange(len(elem_pair)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    elem_flat = batch.offsets[pair_owner][elem_pair] + elem_k
    elem_t = base[pair_owner][elem_pair] + pair_delta[elem_pair] + elem_k
    return _Elements(
        pair_owner, pair_delta, elem_pair, elem_flat, elem_t, np.cumsum(lengths) - lengths, lengths
    )


def _best_response(
    batch: FlexOfferBatch, el: _Elements, pi: np.ndarray, tec: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Cost-minimal energies for every (offer, δ) pair at per-period prices ``pi`` (EUR/kWh).

    Box + TEC is solved exactly by a greedy fill: start at the lower bounds, then add the cheapest
    increments until the TEC lower bound is met, and further ones while they pay (price < 0) up to
    the TEC upper bound. Returns (energy per element, cost per pair).
    """
    lo = batch.lower_kwh[el.elem_flat]
    width = batch.upper_kwh[el.elem_flat] - lo
    pe = pi[el.elem_t]
    n_pairs = len(el.pair_owner)
    tec_lo, tec_hi = tec
    lo_sum = batch.sum_per_offer(batch.lower_kwh)[el.pair_owner]
    need = tec_lo[el.pair_owner] - lo_sum  # >= 0 by construction of tec_effective
    room = tec_hi[el.pair_owner] - lo_sum
    gain = np.bincount(el.elem_pair, weights=np.where(pe < 0, width, 0.0), minlength=n_pairs)
    budget = np.clip(gain, need, room)
    full = budget >= np.bincount(el.elem_pair, weights=width, minlength=n_pairs) - 1e-12
    x = lo.copy()
    if np.all(full | (budget <= 1e-12)):
        # No binding TEC anywhere: a pure box choice, no sorting needed.
        x += np.where(full[el.elem_pair], width, 0.0)
    else:
        order = np.lexsort((pe, el.elem_pair))
        w_sorted = width[order]
        csum = np.cumsum(w_sorted)
        # Width already taken by cheaper elements of the same pair (segmented cumulative sum).
        before = csum - w_sorted - np.concatenate(([0.0], csum))[el.pair_first][el.elem_pair[order]]
        take = np.clip(budget[el.elem_pair[order]] - before, 0.0, w_sorted)
        x[order] += take
    cost = np.bincount(el.elem_pair, weights=pe * x, minlength=n_pairs)
    return x, cost


def _check_fits(batch: FlexOfferBatch, grid: TimeGrid) -> np.ndarray:
    problems: list[Problem] = []
    if batch.interval_s != grid.step_s:
        problems.append(
            Problem(
                "batch",
                "numSecondsPerInterval",
                f"{batch.interval_s} s differs from the grid step {grid.step_s} s",
            )
        )
        raise FlexOfferValidationError("scheduling input", problems)
    rel = batch.est_s - grid.start_s
    base = rel // grid.step_s
    end = base + batch.time_flex + batch.lengths
    bad = np.flatnonzero((rel % grid.step_s != 0) | (base < 0) | (end > grid.n))
    problems = [
        Problem(
            str(batch.ids[i]),
            "startBeforeTime",
            f"window [{int(base[i])}, {int(end[i])}) lies outside the price grid of {grid.n} periods "
            f"starting {grid.start}",
        )
        for i in bad[:1000]
    ]
    if problems:
        raise FlexOfferValidationError("scheduling input", problems)
    return base


def _limits(grid: TimeGrid, limit_kw: float | np.ndarray | None, floor_kw: float | np.ndarray | None):
    def arr(v: float | np.ndarray | None, fill: float, name: str) -> np.ndarray:
        if v is None:
            return np.full(grid.n, fill)
        a = np.broadcast_to(np.asarray(v, dtype=float), (grid.n,)).copy() * grid.step_h
        if np.isnan(a).any():
            raise FlexOfferValidationError("scheduling input", [Problem("portfolio", name, "contains NaN")])
        return a

    return arr(limit_kw, np.inf, "limit_kw"), arr(floor_kw, -np.inf, "floor_kw")


def covering_grid(batch: FlexOfferBatch) -> TimeGrid:
    """Whole hours (UTC) covering every offer's placement window, at the offers' interval."""
    start = int(batch.est_s.min()) // 3600 * 3600
    end = int((batch.lst_s + batch.lengths * batch.interval_s).max())
    n = -(-(end - start) // batch.interval_s)
    n += (-n) % (3600 // batch.interval_s) if 3600 % batch.interval_s == 0 else 0
    return TimeGrid(np.datetime64(start, "s").astype("datetime64[ns]").astype(str) + "Z", batch.interval_s, n)


def schedule_flexoffers(
    batch: FlexOfferBatch,
    grid: TimeGrid,
    prices_eur_per_mwh: np.ndarray,
    limit_kw: float | np.ndarray | None = None,
    floor_kw: float | np.ndarray | None = None,
    method: str = "auto",
    max_iterations: int = 200,
    time_limit_s: float | None = 60.0,
    now_s: int | None = None,
) -> ScheduleResult:
    """Choose start times and energies for every offer at least cost (see module docstring).

    ``now_s`` (UTC seconds): when the schedule is decided and sent. Then the offers' deadlines
    hold: an offer whose ``acceptBeforeTime`` or ``assignmentBeforeTime`` is before ``now_s`` is
    rejected (named in :attr:`ScheduleResult.rejected`), and no schedule starts before ``now_s``
    (an offer whose every start has passed is rejected too). ``None``: no clock, every offer and
    start is open (a study over past data).

    ``limit_kw`` / ``floor_kw``: upper / lower bound of the portfolio power per period (scalar or
    one value per grid period). ``method``: "auto" (the MILP for at most :data:`MILP_MAX_ELEMENTS`
    elements with at most :data:`AUTO_MILP_TIME_LIMIT_S`, column generation otherwise), "milp" or
    "colgen". ``time_limit_s`` bounds every MILP solve; ``max_iterations`` each column generation.
    A limit reached is reported in :attr:`ScheduleResult.limits_hit`.
    """
    prices = np.asarray(prices_eur_per_mwh, dtype=float)
    if prices.shape != (grid.n,) or not np.isfinite(prices).all():
        raise FlexOfferValidationError(
            "scheduling input",
            [
                Problem(
                    "prices", "prices_eur_per_mwh", f"need {grid.n} finite values, got shape {prices.shape}"
                )
            ],
        )
    if method not in ("auto", "milp", "colgen"):
        raise ValueError(f"method must be 'auto', 'milp' or 'colgen', got {method!r}")
    hi, lo = _limits(grid, limit_kw, floor_kw)
    if now_s is not None:
        return _schedule_at(batch, grid, prices, hi, lo, int(now_s), method, max_iterations, time_limit_s)
    return _solve(batch, grid, prices, hi, lo, method, max_iterations, time_limit_s)


def _solve(batch, grid, prices, hi, lo, method, max_iterations, time_limit_s) -> ScheduleResult:
    base = _check_fits(batch, grid)
    el = _elements(batch, base)
    auto_limit = AUTO_MILP_TIME_LIMIT_S if time_limit_s is None else min(time_limit_s, AUTO_MILP_TIME_LIMIT_S)
    if method == "auto" and len(el.elem_pair) <= MILP_MAX_ELEMENTS:
        return _solve_milp(batch, grid, base, el, prices / 1000.0, hi, lo, auto_limit)
    if method == "milp":
        return _solve_milp(batch, grid, base, el, prices / 1000.0, hi, lo, time_limit_s)
    fallback = auto_limit if method == "auto" else time_limit_s
    return _solve_colgen(batch, grid, base, el, prices / 1000.0, hi, lo, max_iterations, fallback)


def _deadline_reasons(batch: FlexOfferBatch, now_s: int) -> np.ndarray:
    """Why each offer can no longer be scheduled at ``now_s`` ('' = it can)."""
    why = np.full(len(batch), "", dtype=object)
    last_start = batch.lst_s
    for field_name, t in (("startBeforeTime", last_start), ("assignmentBeforeTime", batch.assign_before_s),
                          ("acceptBeforeTime", batch.accept_before_s)):  # fmt: skip
        late = (t != NO_TIME) & (t < now_s)
        when = np.datetime64(now_s, "s")
        for i in np.flatnonzero(late):
            why[i] = f"{field_name} {np.datetime64(int(t[i]), 's')}Z passed at the decision time {when}Z"
    return why


def _schedule_at(batch, grid, prices, hi, lo, now_s, method, max_iterations, time_limit_s) -> ScheduleResult:
    """Schedule the offers still open at ``now_s``, each starting no earlier than ``now_s``."""
    why = _deadline_reasons(batch, now_s)
    keep = np.flatnonzero(why == "")
    rejected = {str(batch.ids[i]): str(why[i]) for i in np.flatnonzero(why != "")}
    n_flat = len(batch.lower_kwh)
    start_s = np.full(len(batch), NO_TIME, dtype=np.int64)
    energy = np.full(n_flat, np.nan)
    if not len(keep):
        res = ScheduleResult(Schedule(start_s, energy), 0.0, 0.0, method, np.zeros(grid.n))
        res.rejected = rejected
        return res
    # Starts before now are gone: the earliest start moves to the first interval at or after now.
    sub = batch.take(keep)
    step = sub.interval_s
    late = np.maximum(0, -(-(now_s - sub.est_s) // step)) * step
    sub = replace(sub, est_s=sub.est_s + late, _cache={})
    res = _solve(sub, grid, prices, hi, lo, method, max_iterations, time_limit_s)
    start_s[keep] = res.schedule.start_s
    flat = np.concatenate([np.arange(batch.offsets[i], batch.offsets[i + 1]) for i in keep])
    energy[flat] = res.schedule.energy_kwh
    res.schedule = Schedule(start_s, energy)
    res.rejected = rejected
    return res


def _limit_rows(m: Model, name: str, t: np.ndarray, col: np.ndarray, n: int, hi: np.ndarray, lo: np.ndarray):
    """Portfolio limit rows for the periods that have a finite limit."""
    limited = np.isfinite(hi) | np.isfinite(lo)
    row_of_t = np.cumsum(limited) - 1
    keep = limited[t]
    rows = np.flatnonzero(limited)
    if not len(rows):
        return None
    return m.add_constrs(
        name=name, row=row_of_t[t[keep]], col=col[keep], val=np.ones(keep.sum()), lb=lo[rows], ub=hi[rows]
    ), rows


def _energy_lp(
    batch: FlexOfferBatch, start_idx: np.ndarray, pi: np.ndarray, hi: np.ndarray, lo: np.ndarray, n: int
) -> tuple[np.ndarray, float]:
    """Optimal energies with fixed starts: one LP over all profile intervals with the portfolio limit."""
    m = Model(name="flex-offer energies")
    t = start_idx[batch.owner_index] + batch.position
    x = m.add_vars(len(t), lb=batch.lower_kwh, ub=batch.upper_kwh, cost=pi[t], name="energy")
    tec_lo, tec_hi = batch.tec_effective
    has_tec = np.flatnonzero(~np.isnan(batch.tec_lower_kwh) | ~np.isnan(batch.tec_upper_kwh))
    if len(has_tec):
        sel = np.isin(batch.owner_index, has_tec)
        row_of = np.full(len(batch), -1)
        row_of[has_tec] = np.arange(len(has_tec))
        m.add_constrs(
            name="total energy constraints",
            row=row_of[batch.owner_index[sel]],
            col=x.idx[sel],
            val=np.ones(sel.sum()),
            lb=tec_lo[has_tec],
            ub=tec_hi[has_tec],
        )
    _limit_rows(m, "portfolio limit", t, x.idx, n, hi, lo)
    sol = m.solve()
    return sol.value(x), sol.objective


def _subset(el: _Elements, keep_pair: np.ndarray) -> _Elements:
    """The elements of the kept (offer, start) pairs only, renumbered."""
    pairs = np.flatnonzero(keep_pair)
    e, col = _pair_elems(el, pairs)
    lengths = el.pair_len[pairs]
    return _Elements(
        el.pair_owner[pairs],
        el.pair_delta[pairs],
        col,
        el.elem_flat[e],
        el.elem_t[e],
        np.cumsum(lengths) - lengths,
        lengths,
    )


def _disjunctive_model(batch: FlexOfferBatch, el: _Elements, pi, hi, lo, n_periods: int):
    """The exact MILP of the module docstring over the (offer, start) pairs in ``el``."""
    n_pairs, ne = len(el.pair_owner), len(el.elem_pair)
    lo_e, hi_e = batch.lower_kwh[el.elem_flat], batch.upper_kwh[el.elem_flat]
    m = Model(name="flex-offer schedule")
    y = m.add_vars(n_pairs, lb=0.0, ub=1.0, integer=True, name="start choice")
    z = m.add_vars(ne, lb=np.minimum(lo_e, 0.0), ub=np.maximum(hi_e, 0.0), cost=pi[el.elem_t], name="energy")
    m.add_constrs(
        name="one start per offer", row=el.pair_owner, col=y.idx, val=1.0, lb=1.0, ub=1.0, n_rows=len(batch)
    )
    # l·y <= z <= u·y: energy only at the chosen start.
    rows = np.concatenate([np.arange(ne), np.arange(ne)])
    cols = np.concatenate([z.idx, y.idx[el.elem_pair]])
    for name, bound, lb, ub in (
        ("slice lower bounds", lo_e, 0.0, np.inf),
        ("slice upper bounds", hi_e, -np.inf, 0.0),
    ):
        m.add_constrs(
            name=name, row=rows, col=cols, val=np.concatenate([np.ones(ne), -bound]), lb=lb, ub=ub, n_rows=ne
        )
    tec_lo, tec_hi = batch.tec_effective
    has = ~np.isnan(batch.tec_lower_kwh) | ~np.isnan(batch.tec_upper_kwh)
    pairs = np.flatnonzero(has[el.pair_owner])
    if len(pairs):
        # L·y <= Σ_k z <= U·y for each start of an offer with a TEC.
        e, row = _pair_elems(el, pairs)
        r = np.concatenate([row, np.arange(len(pairs))])
        c = np.concatenate([z.idx[e], y.idx[pairs]])
        for name, bound, lb, ub in (
            ("total energy lower", tec_lo, 0.0, np.inf),
            ("total energy upper", tec_hi, -np.inf, 0.0),
        ):
            val = np.concatenate([np.ones(len(e)), -bound[el.pair_owner[pairs]]])
            m.add_constrs(name=name, row=r, col=c, val=val, lb=lb, ub=ub, n_rows=len(pairs))
    _limit_rows(m, "portfolio limit", el.elem_t, z.idx, n_periods, hi, lo)
    return m, y, z


def _heaviest_start(el: _Elements, weight: np.ndarray, n_offers: int) -> tuple[np.ndarray, np.ndarray]:
    """Per offer, the start shift of its heaviest pair and that weight."""
    order = np.lexsort((weight, el.pair_owner))
    owners = el.pair_owner[order]
    last = np.r_[owners[1:] != owners[:-1], True]
    delta = np.zeros(n_offers, dtype=np.int64)
    top = np.zeros(n_offers)
    delta[owners[last]] = el.pair_delta[order][last]
    top[owners[last]] = weight[order][last]
    return delta, top


def _solve_milp(
    batch, grid, base, el, pi, hi, lo, time_limit_s, lower_bound=None, method="milp", mip_rel_gap=1e-6
) -> ScheduleResult:
    t0 = time.perf_counter()
    m, y, z = _disjunctive_model(batch, el, pi, hi, lo, grid.n)
    try:
        sol = m.solve(time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    except SolverError as e:
        if type(e) is SolverError and "time limit" in str(e).lower():
            raise SolverError(
                f"the MILP found no schedule within its time limit of {time_limit_s:g} s: allow more time "
                "or use column generation (method 'colgen')",
                status=e.status,
            ) from None
        raise
    delta, _ = _heaviest_start(el, sol.value(y), len(batch))
    x = np.empty(len(batch.lower_kwh))
    chosen = sol.value(y)[el.elem_pair] > 0.5
    x[el.elem_flat[chosen]] = sol.value(z)[chosen]
    status, objective, mip_gap = sol.status, sol.objective, sol.mip_gap
    if lower_bound is None:
        # after the MILP: a MILP warm-started from this relaxation returned a schedule that did not
        # match its own objective (the test against brute force caught it)
        lower_bound = m.solve(relax=True).objective
    if np.isfinite(mip_gap):  # HiGHS' own dual bound can be tighter than the root relaxation
        lower_bound = max(lower_bound, objective - mip_gap * abs(objective))
    obj = float(pi[el.elem_t[chosen]] @ x[el.elem_flat[chosen]])
    res = _result(batch, grid, base + delta, x, obj, min(lower_bound, obj), method, 0, _t(t0))
    if status == "time_limit":
        res.limits_hit.append(
            f"the MILP stopped at its time limit of {time_limit_s:g} s with the best schedule found, "
            f"{res.gap_eur:,.2f} EUR ({100 * res.gap:.3f} %) above the proven lower bound"
        )
    return res


@dataclass
class _Pool:
    """Master columns: the (offer, start) pair of each, and its energies as flat element triplets."""

    pairs: list[np.ndarray]
    elems: list[np.ndarray]
    vals: list[np.ndarray]

    def add(self, el: _Elements, pairs: np.ndarray, x_all: np.ndarray) -> None:
        e, _ = _pair_elems(el, pairs)
        self.pairs.append(pairs)
        self.elems.append(e)
        self.vals.append(x_all[e])

    def arrays(self, el: _Elements, allowed: np.ndarray):
        """Columns whose pair is still allowed: pairs, elements, energies, column of each element."""
        pairs = np.concatenate(self.pairs)
        counts = el.pair_len[pairs]
        col = np.repeat(np.arange(len(pairs)), counts)
        keep_col = allowed[pairs]
        keep = keep_col[col]
        new_id = np.cumsum(keep_col) - 1
        return (
            pairs[keep_col],
            np.concatenate(self.elems)[keep],
            np.concatenate(self.vals)[keep],
            new_id[col[keep]],
        )


@dataclass
class _Master:
    pair_weight: np.ndarray  # Σ of column weights per (offer, start) pair
    slack_kwh: np.ndarray  # limit violation per limited period (0 when the master is feasible)
    bound: float  # Lagrangian lower bound of the restricted problem
    iterations: int


def _column_generation(
    batch, el, pi, hi, lo, pool: _Pool, allowed: np.ndarray, max_iterations: int
) -> _Master:
    """Solve the master LP over the allowed pairs to optimality by pricing new columns."""
    n_offers, n = len(batch), len(pi)
    tec = batch.tec_effective
    limited = np.isfinite(hi) | np.isfinite(lo)
    rows_t = np.flatnonzero(limited)
    row_of_t = np.cumsum(limited) - 1
    n_rows = len(rows_t)
    bound = -np.inf
    it = 0
    while True:
        it += 1
        pairs, elems, vals, cols = pool.arrays(el, allowed)
        t = el.elem_t[elems]
        m = Model(name="flex-offer master")
        cost = np.bincount(cols, weights=pi[t] * vals, minlength=len(pairs))
        lam = m.add_vars(len(pairs), lb=0.0, cost=cost, name="columns")
        s_up = m.add_vars(n_rows, lb=0.0, cost=_SLACK_PENALTY, name="limit slack up")
        s_dn = m.add_vars(n_rows, lb=0.0, cost=_SLACK_PENALTY, name="limit slack down")
        keep = limited[t]
        lim = m.add_constrs(
            name="portfolio limit",
            row=np.concatenate([row_of_t[t[keep]], np.arange(n_rows), np.arange(n_rows)]),
            col=np.concatenate([lam.idx[cols[keep]], s_up.idx, s_dn.idx]),
            val=np.concatenate([vals[keep], -np.ones(n_rows), np.ones(n_rows)]),
            lb=lo[rows_t],
            ub=hi[rows_t],
        )
        conv = m.add_constrs(
            name="one schedule per offer",
            row=el.pair_owner[pairs],
            col=lam.idx,
            val=1.0,
            lb=1.0,
            ub=1.0,
            n_rows=n_offers,
        )
        sol = m.solve()
        mu = np.zeros(n)
        mu[rows_t] = sol.row_dual(lim)
        sigma = sol.row_dual(conv)
        # A binding upper limit has a dual <= 0 (HiGHS sign convention): it raises the price there.
        x_new, cost_new = _best_response(batch, el, pi - mu, tec)
        cost_new[~allowed] = np.inf
        best = _argmin_per_offer(el.pair_owner, cost_new, n_offers)
        rc = cost_new[best] - sigma
        # Lagrangian bound of the slack-penalised (hence relaxed) master: valid for the restricted problem.
        bound = max(bound, sol.objective + float(np.minimum(rc, 0.0).sum()))
        improving = np.flatnonzero(rc < -1e-9 * max(1.0, float(np.abs(sigma).max(initial=0.0))))
        if not len(improving) or it >= max_iterations:
            break
        pool.add(el, best[improving], x_new)
    weight = np.bincount(pairs, weights=sol.value(lam), minlength=len(el.pair_owner))
    return _Master(weight, sol.value(s_up) + sol.value(s_dn), bound, it)


def _solve_colgen(batch, grid, base, el, pi, hi, lo, max_iterations, milp_time_limit_s) -> ScheduleResult:
    t0 = time.perf_counter()
    n_offers = len(batch)
    x_all, cost_all = _best_response(batch, el, pi, batch.tec_effective)
    best = _argmin_per_offer(el.pair_owner, cost_all, n_offers)
    e, _ = _pair_elems(el, best)
    load = np.bincount(el.elem_t[e], weights=x_all[e], minlength=grid.n)
    if np.all(load <= hi + 1e-9) and np.all(load >= lo - 1e-9):
        # The best response at plain prices respects the limits: it is optimal, bound = cost.
        x = np.empty(len(batch.lower_kwh))
        x[el.elem_flat[e]] = x_all[e]
        obj = float(cost_all[best].sum())
        return _result(batch, grid, base + el.pair_delta[best], x, obj, obj, "colgen", 0, _t(t0))

    pool = _Pool([], [], [])
    pool.add(el, best, x_all)
    allowed = np.ones(len(el.pair_owner), dtype=bool)
    root = _column_generation(batch, el, pi, hi, lo, pool, allowed, max_iterations)
    if root.slack_kwh.sum() > 1e-6:
        limited = np.flatnonzero(np.isfinite(hi) | np.isfinite(lo))
        t_bad = limited[np.flatnonzero(root.slack_kwh > 1e-6)]
        raise InfeasibleError(
            f"the portfolio limit cannot be met even using all flexibility: short by {root.slack_kwh.sum():.3f} kWh "
            f"in {len(t_bad)} period(s), first at {grid.index[t_bad[0]]}",
            groups=["portfolio limit"],
        )
    # Diving: offers whose weight is split over several starts are fixed one at a time to their
    # heaviest start and the master is re-solved; a fix that makes it infeasible is replaced by
    # forbidding that start instead. Few offers are split (at most one per binding limit row).
    master, iterations, failed = root, root.iterations, False
    for _ in range(4 * n_offers):
        delta, top = _heaviest_start(el, master.pair_weight, n_offers)
        split = np.flatnonzero(top < 1.0 - 1e-6)
        if not len(split):
            break
        # First try fixing every split offer at once (cheap and usually fine), then the heaviest alone.
        g = split if len(split) > 1 and not failed else split[[np.argmax(top[split])]]
        own = np.isin(el.pair_owner, g)
        fixed = allowed.copy()
        fixed[own & (el.pair_delta != delta[el.pair_owner])] = False
        trial = _column_generation(batch, el, pi, hi, lo, pool, fixed, max_iterations)
        iterations += trial.iterations
        if trial.slack_kwh.sum() <= 1e-6:
            allowed, master, failed = fixed, trial, False
        elif len(g) > 1:
            failed = True
        else:
            allowed[own & (el.pair_delta == delta[el.pair_owner])] = False
            master = _column_generation(batch, el, pi, hi, lo, pool, allowed, max_iterations)
            iterations += master.iterations
            if master.slack_kwh.sum() > 1e-6:
                break  # the dive ran into a dead end
    delta, top = _heaviest_start(el, master.pair_weight, n_offers)
    notes = []
    if root.iterations >= max_iterations:
        notes.append(
            f"column generation stopped at its limit of {max_iterations} iterations: the lower bound "
            "is valid but may be weaker than the LP relaxation's"
        )
    if master.slack_kwh.sum() <= 1e-6 and np.all(top >= 1.0 - 1e-6):
        x, obj = _energy_lp(batch, base + delta, pi, hi, lo, grid.n)
        res = _result(batch, grid, base + delta, x, obj, min(root.bound, obj), "colgen", iterations, _t(t0))
    else:  # rare: let the exact MILP decide (time-limited), keeping the column-generation bound
        res = _solve_milp(
            batch, grid, base, el, pi, hi, lo, milp_time_limit_s, root.bound, "colgen+milp", 1e-4
        )
        res.iterations, res.timings_s = iterations, _t(t0)
    res.limits_hit[:0] = notes
    return res


def _t(t0: float) -> dict[str, float]:
    return {"total": time.perf_counter() - t0}


def _argmin_per_offer(pair_owner: np.ndarray, cost: np.ndarray, n: int) -> np.ndarray:
    """The cheapest pair of each offer."""
    order = np.lexsort((cost, pair_owner))
    first = np.r_[True, pair_owner[order][1:] != pair_owner[order][:-1]]
    out = np.empty(n, dtype=np.int64)
    out[pair_owner[order][first]] = order[first]
    return out


def _pair_elems(el: _Elements, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Element indices of the given pairs and, for each element, the position of its pair in ``pairs``."""
    lengths = el.pair_len[pairs]
    col = np.repeat(np.arange(len(pairs)), lengths)
    e = np.repeat(el.pair_first[pairs] - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
    return e, col


def _result(batch, grid, start_idx, x, obj, lb, method, iterations, timings) -> ScheduleResult:
    start_s = grid.start_s + start_idx * grid.step_s
    t = start_idx[batch.owner_index] + batch.position
    load = np.bincount(t, weights=x, minlength=grid.n)
    return ScheduleResult(Schedule(start_s, x), float(obj), float(lb), method, load, iterations, timings)


def schedule_cost_eur(
    batch: FlexOfferBatch, schedule: Schedule, grid: TimeGrid, prices_eur_per_mwh: np.ndarray
) -> float:
    """Energy cost of a schedule (e.g. the default one) at the grid's prices."""
    from gridflex.flexoffer.model import place_on_grid

    load = place_on_grid(batch, schedule, grid.start_s, grid.n)
    return float(load @ np.asarray(prices_eur_per_mwh, dtype=float)) / 1000.0

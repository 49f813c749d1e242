"""A transmission network as arrays, for DC power flow and DC-OPF.

Units: power in MW, branch reactance in per unit on the case base ``base_mva``, costs in EUR
(pandapower's ``cp*_eur`` columns are taken as EUR). Positions: every array that refers to a bus
holds its *position* ``0..B-1`` in :attr:`Network.bus_ids`, never the pandapower index.

Built from pandapower (:meth:`Network.from_pandapower`, :meth:`Network.case`,
:meth:`Network.from_matpower`), branch data come from pandapower's own internal conversion
(``to_ppc``), so that reactances, tap ratios and branch ratings are *exactly* those pandapower's
DC power flow and DC OPF use:

- line rating ``max_loading_percent/100 · max_i_ka · df · parallel · vn_kv(from bus) · √3`` MW,
- transformer rating ``max_loading_percent/100 · sn_mva · df · parallel`` MW,
- a missing / NaN / zero rating means unrated (``inf``),
- DC reactance of a transformer = ``x · tap ratio`` (as in PYPOWER's ``makeBdc``); phase shifts
  are ignored (a network with a non-zero shift is rejected).
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridflex.errors import DataError, Problem, ValidationError
from gridflex.grid.limits import MAX_VALUE

_ARRAYS_F = (
    "line_x_pu", "line_rate_mw", "gen_pmin_mw", "gen_pmax_mw", "gen_cost_c2", "gen_cost_c1",
    "gen_cost_c0", "gen_ramp_mw_per_h", "load_mw",
)  # fmt: skip
_ARRAYS_I = ("bus_ids", "line_from", "line_to", "gen_bus", "load_bus")
_UNSUPPORTED = ("trafo3w", "impedance", "dcline", "ward", "xward", "storage", "tcsc", "svc", "ssc", "vsc")


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a)  # own copy
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Network:
    """A DC network: buses, branches (lines and transformers), generators with costs, loads.

    Arrays are read-only copies. Derive a modified network with :func:`dataclasses.replace`.
    ``gen_name``, ``load_name`` and ``line_name`` (e.g. ``"sgen 3"``, ``"trafo 0"``) name the
    pandapower element behind each entry, for messages; they default to positions.
    """

    name: str
    base_mva: float
    bus_ids: np.ndarray
    line_from: np.ndarray
    line_to: np.ndarray
    line_x_pu: np.ndarray
    line_rate_mw: np.ndarray
    gen_bus: np.ndarray
    gen_pmin_mw: np.ndarray
    gen_pmax_mw: np.ndarray
    gen_cost_c2: np.ndarray
    gen_cost_c1: np.ndarray
    gen_cost_c0: np.ndarray
    gen_ramp_mw_per_h: np.ndarray
    gen_type: np.ndarray
    load_bus: np.ndarray
    load_mw: np.ndarray
    slack_bus: int
    gen_name: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str))
    load_name: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str))
    line_name: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str))
    _cache: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        set_ = object.__setattr__
        set_(self, "_cache", {})  # not an init field: dataclasses.replace must not carry a stale PTDF
        for f in _ARRAYS_F:
            try:
                set_(self, f, _ro(np.asarray(getattr(self, f), dtype=float).ravel()))
            except (TypeError, ValueError) as e:
                problems.append(Problem(self.name, f, f"not numeric ({e})"))
        for f in _ARRAYS_I:
            a = np.asarray(getattr(self, f))
            if a.size == 0:
                a = a.astype(np.int64)
            if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
                problems.append(
                    Problem(self.name, f, f"must be a 1-d integer array, got {a.dtype} {a.shape}")
                )
            set_(self, f, _ro(a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a))
        set_(self, "gen_type", _ro(np.asarray(self.gen_type, dtype=str).ravel()))
        for f, n, prefix in (
            ("gen_name", self.gen_bus.size, "gen"),
            ("load_name", self.load_bus.size, "load"),
            ("line_name", self.line_from.size, "branch"),
        ):
            names = np.asarray(getattr(self, f), dtype=str).ravel()
            if names.size == 0 and n:
                names = np.array([f"{prefix} {i}" for i in range(n)])
            set_(self, f, _ro(names))
        if problems:
            raise ValidationError(f"network '{self.name}'", problems)
        problems = validate_network(self)
        if problems:
            raise ValidationError(f"network '{self.name}'", problems)

    # ---- sizes -------------------------------------------------------------------------------
    @property
    def n_buses(self) -> int:
        return int(self.bus_ids.size)

    @property
    def n_lines(self) -> int:
        return int(self.line_from.size)

    @property
    def n_gens(self) -> int:
        return int(self.gen_bus.size)

    @property
    def n_loads(self) -> int:
        return int(self.load_bus.size)

    def bus_load_mw(self, load_mw: np.ndarray | None = None) -> np.ndarray:
        """Load per bus (last axis): ``load_mw`` (..., n_loads) summed onto buses; default nominal."""
        lm = self.load_mw if load_mw is None else np.asarray(load_mw, dtype=float)
        inc = np.zeros((self.n_loads, self.n_buses))
        inc[np.arange(self.n_loads), self.load_bus] = 1.0
        return np.asarray(lm @ inc)

    # ---- DC power flow -----------------------------------------------------------------------
    def ptdf(self) -> np.ndarray:
        """(lines × buses) DC power transfer distribution factors; slack column zero; cached, read-only.

        ``flow_mw = ptdf() @ injection_mw`` for a balanced injection vector (generation − load per
        bus); the slack bus absorbs the imbalance otherwise.
        """
        if "ptdf" not in self._cache:
            b = 1.0 / self.line_x_pu
            n_l, n_b = self.n_lines, self.n_buses
            rows = np.arange(n_l)
            a = np.zeros((n_l, n_b))
            np.add.at(a, (rows, self.line_from), 1.0)
            np.add.at(a, (rows, self.line_to), -1.0)
            bf = b[:, None] * a
            bbus = a.T @ bf
            keep = np.flatnonzero(np.arange(n_b) != self.slack_bus)
            ptdf = np.zeros((n_l, n_b))
            if keep.size and n_l:
                try:
                    x = sla.solve(bbus[np.ix_(keep, keep)], bf[:, keep].T, assume_a="sym")
                except (sla.LinAlgError, ValueError) as e:  # islands are caught by validation first
                    raise ValidationError(
                        f"network '{self.name}'", [Problem(self.name, "ptdf", f"B matrix singular ({e})")]
                    ) from None
                ptdf[:, keep] = x.T
            self._cache["ptdf"] = _ro(ptdf)
        return self._cache["ptdf"]

    # ---- constructors ------------------------------------------------------------------------
    @classmethod
    def from_pandapower(cls, net: Any, name: str | None = None) -> Network:
        """Build from a pandapower net (not modified).

        - ``ext_grid``, ``gen`` and *controllable* ``sgen`` become generators, with limits
          ``min_p_mw``/``max_p_mw`` and costs from ``poly_cost`` (c2, c1, c0) or ``pwl_cost``
          (one slope: exact linear cost; several slopes: least-squares quadratic fit through the
          curve's breakpoints, an approximation). A non-controllable ``gen`` is fixed at ``p_mw``.
        - ``load`` (``p_mw · scaling``) are loads; non-controllable ``sgen`` are negative loads.
        - out-of-service elements are dropped; lines and two-winding transformers are branches
          (parallel branches are fine); slack = the first ext_grid's bus (else a slack gen, else the
          largest generator's bus).
        - not supported (raises :class:`DataError`): in-service trafo3w, impedance, dcline, ward,
          xward, storage and FACTS elements, shunts with active power, closed bus-bus switches,
          phase-shifting transformers.
        """
        return _from_pandapower(cls, net, name)

    @classmethod
    def case(cls, name: str) -> Network:
        """A case shipped in ``pandapower.networks``: "case24_ieee_rts", "case14", "case30", "case39"…"""
        import pandapower.networks as pn

        fn = getattr(pn, name, None)
        if not name.startswith("case") or not callable(fn):
            raise DataError(f"unknown pandapower case '{name}' (expected e.g. 'case24_ieee_rts', 'case14')")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = fn()
        return cls.from_pandapower(net, name=name)

    @classmethod
    def from_matpower(cls, path: str | Path) -> Network:
        """Read a MATPOWER case (version 2) via ``pandapower.converter.from_mpc``.

        ``.mat`` files are read with ``scipy.io.loadmat`` and must hold the case struct in a
        variable named ``mpc``; ``.m`` files need the optional package ``matpowercaseframes``.
        The case needs ``gencost`` (costs) and, for line limits, ``rateA`` (0 = unrated).
        """
        from pandapower.converter.matpower.from_mpc import from_mpc

        p = Path(path)
        if p.suffix not in (".m", ".mat"):
            raise DataError(f"{p}: a MATPOWER case must end in .m or .mat, got '{p.suffix}'")
        if not p.is_file():
            raise DataError(f"{p}: no such file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = from_mpc(str(p), f_hz=50)
        except Exception as e:  # the converter raises many kinds; name the file
            raise DataError(f"{p}: cannot read the MATPOWER case ({type(e).__name__}: {e})") from e
        return cls.from_pandapower(net, name=p.stem)


# ---- validation --------------------------------------------------------------------------------
def validate_network(net: Network) -> list[Problem]:
    """Every problem with a network's arrays: shapes, ranges, limits, costs, islands."""
    p: list[Problem] = []
    nm = net.name
    n_b, n_l, n_g, n_d = net.n_buses, net.n_lines, net.n_gens, net.n_loads
    if n_b == 0:
        return [Problem(nm, "bus_ids", "no buses")]
    if n_g == 0:
        p.append(Problem(nm, "gen_bus", "no generator"))
    if not np.isfinite(net.base_mva) or net.base_mva <= 0:
        p.append(Problem(nm, "base_mva", f"must be positive, got {net.base_mva}"))
    if np.unique(net.bus_ids).size != n_b:
        p.append(Problem(nm, "bus_ids", "duplicate bus ids"))
    sizes = {
        "line_to": (net.line_to, n_l), "line_x_pu": (net.line_x_pu, n_l),
        "line_rate_mw": (net.line_rate_mw, n_l), "line_name": (net.line_name, n_l),
        "gen_pmin_mw": (net.gen_pmin_mw, n_g), "gen_pmax_mw": (net.gen_pmax_mw, n_g),
        "gen_cost_c2": (net.gen_cost_c2, n_g), "gen_cost_c1": (net.gen_cost_c1, n_g),
        "gen_cost_c0": (net.gen_cost_c0, n_g), "gen_ramp_mw_per_h": (net.gen_ramp_mw_per_h, n_g),
        "gen_type": (net.gen_type, n_g), "gen_name": (net.gen_name, n_g),
        "load_mw": (net.load_mw, n_d), "load_name": (net.load_name, n_d),
    }  # fmt: skip
    for f, (a, n) in sizes.items():
        if a.shape != (n,):
            p.append(Problem(nm, f, f"has length {a.size}, expected {n}"))
    if p:
        return p
    for f, a in (("line_from", net.line_from), ("line_to", net.line_to), ("gen_bus", net.gen_bus),
                 ("load_bus", net.load_bus)):  # fmt: skip
        bad = np.flatnonzero((a < 0) | (a >= n_b))
        if bad.size:
            p.append(Problem(nm, f, f"bus position {a[bad[0]]} at entry {bad[0]} outside 0..{n_b - 1}"))
    if not 0 <= net.slack_bus < n_b:
        p.append(Problem(nm, "slack_bus", f"position {net.slack_bus} outside 0..{n_b - 1}"))
    if p:
        return p

    def each(names: np.ndarray, mask: np.ndarray, f: str, msg: str) -> None:
        p.extend(Problem(str(names[i]), f, msg) for i in np.flatnonzero(mask))

    each(net.line_name, ~(net.line_x_pu > 0) | ~np.isfinite(net.line_x_pu), "x_pu", "reactance must be > 0")
    each(net.line_name, net.line_from == net.line_to, "to_bus", "branch connects a bus to itself")
    each(net.line_name, ~(net.line_rate_mw > 0), "rate_mw", "rating must be > 0 (inf = unrated)")
    gn = net.gen_name
    each(gn, ~np.isfinite(net.gen_pmin_mw), "pmin_mw", "must be finite")
    each(gn, ~np.isfinite(net.gen_pmax_mw), "pmax_mw", "must be finite")
    each(gn, net.gen_pmin_mw > net.gen_pmax_mw, "pmin_mw", "pmin > pmax")
    for f in ("gen_cost_c2", "gen_cost_c1", "gen_cost_c0"):
        each(gn, ~np.isfinite(getattr(net, f)), f[4:], "cost missing or not finite")
    each(gn, net.gen_cost_c2 < 0, "cost_c2", "negative quadratic cost (non-convex)")
    each(gn, ~(net.gen_ramp_mw_per_h >= 0), "ramp_mw_per_h", "must be >= 0 (inf = unknown)")
    each(net.load_name, ~np.isfinite(net.load_mw), "load_mw", "must be finite")
    # values the solver cannot take (HiGHS: bounds above 1e20 are infinite, costs that large rejected)
    big = f"must be within ±{MAX_VALUE:g} (gridflex.grid.limits)"
    for names, f, a in ((gn, "pmin_mw", net.gen_pmin_mw), (gn, "pmax_mw", net.gen_pmax_mw),
                        (gn, "cost_c2", net.gen_cost_c2), (gn, "cost_c1", net.gen_cost_c1),
                        (gn, "cost_c0", net.gen_cost_c0), (net.load_name, "load_mw", net.load_mw)):  # fmt: skip
        each(names, np.isfinite(a) & (np.abs(a) > MAX_VALUE), f, big)
    rate, ramp = net.line_rate_mw, net.gen_ramp_mw_per_h
    each(net.line_name, np.isfinite(rate) & (rate > MAX_VALUE), "rate_mw", big + " (inf = unrated)")
    each(gn, np.isfinite(ramp) & (ramp > MAX_VALUE), "ramp_mw_per_h", big + " (inf = unknown)")
    x = net.line_x_pu
    each(net.line_name, np.isfinite(x) & ((x > MAX_VALUE) | ((x > 0) & (x < 1 / MAX_VALUE))), "x_pu",
         f"must be within [{1 / MAX_VALUE:g}, {MAX_VALUE:g}] pu")  # fmt: skip
    if not p:
        p.extend(_islands(net))
    return p


def _islands(net: Network) -> list[Problem]:
    n_b = net.n_buses
    g = coo_matrix((np.ones(net.n_lines), (net.line_from, net.line_to)), shape=(n_b, n_b))
    _, label = connected_components(g, directed=False)
    islanded = np.flatnonzero(label != label[net.slack_bus])
    if not islanded.size:
        return []
    ids = ", ".join(str(i) for i in net.bus_ids[islanded][:20])
    more = " …" if islanded.size > 20 else ""
    return [Problem(net.name, "buses", f"{islanded.size} bus(es) not connected to the slack bus "
                    f"{net.bus_ids[net.slack_bus]} (PTDF singular): pandapower ids {ids}{more}")]  # fmt: skip


# ---- pandapower --------------------------------------------------------------------------------
def _col(df: Any, name: str, default: Any) -> np.ndarray:
    return np.asarray(df[name].values if name in df else np.full(len(df), default))


def _in_service(df: Any) -> Any:
    return df[_col(df, "in_service", True).astype(bool)]


def _check_supported(net: Any, nm: str) -> None:
    bad = [t for t in _UNSUPPORTED if t in net and len(net[t]) and _col(net[t], "in_service", True).any()]
    if len(net.shunt):
        sh = _in_service(net.shunt)
        if (np.abs(_col(sh, "p_mw", 0.0) * _col(sh, "step", 1)) > 0).any():
            bad.append("shunt with p_mw != 0")
    if len(net.switch):
        sw = net.switch
        if ((sw.et.values == "b") & sw.closed.values.astype(bool)).any():
            bad.append("closed bus-bus switch")
    if len(net.trafo) and (_col(_in_service(net.trafo), "shift_degree", 0.0) != 0).any():
        bad.append("phase-shifting trafo")
    if bad:
        raise DataError(f"network '{nm}': not supported by the DC network model: {', '.join(bad)}")


def _cost_table(net: Any) -> dict[tuple[str, int], tuple[float, float, float]]:
    costs: dict[tuple[str, int], tuple[float, float, float]] = {}
    if "pwl_cost" in net and len(net.pwl_cost):
        for et, el, ptype, pts in zip(net.pwl_cost.et, net.pwl_cost.element, _col(net.pwl_cost, "power_type", "p"),
                                      net.pwl_cost.points, strict=True):  # fmt: skip
            if ptype == "p":
                costs[(str(et), int(el))] = _pwl_to_poly(np.asarray(pts, dtype=float).reshape(-1, 3))
    pc = net.poly_cost
    for et, el, c0, c1, c2 in zip(pc.et, pc.element, pc.cp0_eur, pc.cp1_eur_per_mw, pc.cp2_eur_per_mw2,
                                  strict=True):  # fmt: skip
        costs.setdefault((str(et), int(el)), (float(c2), float(c1), float(c0)))
    return costs


def _pwl_to_poly(pts: np.ndarray) -> tuple[float, float, float]:
    """pandapower pwl points [p_from, p_to, EUR/MWh] → (c2, c1, c0); cost 0 at the first point."""
    slopes = pts[:, 2]
    p0 = pts[0, 0]
    if np.allclose(slopes, slopes[0]):
        return 0.0, float(slopes[0]), float(-slopes[0] * p0)
    x = np.concatenate(([p0], pts[:, 1]))
    y = np.concatenate(([0.0], np.cumsum(slopes * (pts[:, 1] - pts[:, 0]))))
    c2, c1, c0 = np.polyfit(x, y, 2)
    return max(float(c2), 0.0), float(c1), float(c0)


def _from_pandapower(cls: type[Network], net: Any, name: str | None) -> Network:
    from pandapower.converter.pypower.to_ppc import to_ppc
    from pandapower.pypower.idx_brch import BR_STATUS, BR_X, F_BUS, RATE_A, T_BUS, TAP

    nm = name or str(getattr(net, "name", "") or "network")
    _check_supported(net, nm)
    buses = _in_service(net.bus)
    bus_ids = np.asarray(buses.index, dtype=np.int64)
    pos = {int(b): i for i, b in enumerate(bus_ids)}

    def bpos(ids: Any) -> np.ndarray:
        return np.array([pos.get(int(b), -1) for b in ids], dtype=np.int64)

    # branches, exactly as pandapower converts them
    work = copy.deepcopy(net)
    for tab in ("poly_cost", "pwl_cost"):  # costs are read below; pandapower rejects some mixes
        if tab in work:
            work[tab] = work[tab].iloc[0:0]
    for tab in ("bus", "line", "trafo"):  # keep every branch in the ppc; filtered by status below
        work[tab]["in_service"] = True
    level = logging.getLogger("pandapower").level
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ppc = to_ppc(work, init="flat", calculate_voltage_angles=False, check_connectivity=False)
    except Exception as e:
        raise DataError(f"network '{nm}': pandapower cannot convert it ({type(e).__name__}: {e})") from e
    finally:
        logging.getLogger("pandapower").setLevel(level)
    lookup = np.asarray(work._pd2ppc_lookups["bus"])
    ppc_of_pos = lookup[bus_ids]
    if np.unique(ppc_of_pos).size != bus_ids.size:
        raise DataError(f"network '{nm}': some in-service buses are merged by pandapower (bus-bus switches)")
    pos_of_ppc = np.full(int(max(ppc["bus"].shape[0], ppc_of_pos.max() + 1)), -1, dtype=np.int64)
    pos_of_ppc[ppc_of_pos] = np.arange(bus_ids.size)
    br = np.real(ppc["branch"])
    kinds: list[str] = []
    in_service: list[np.ndarray] = []
    for kind in ("line", "trafo"):
        if kind in work._pd2ppc_lookups["branch"]:
            f, t = work._pd2ppc_lookups["branch"][kind]
            if t - f != len(net[kind]) or f != len(kinds):
                raise DataError(f"network '{nm}': cannot match pandapower's {kind} branches to the table")
            kinds += [f"{kind} {i}" for i in net[kind].index]
            in_service.append(_col(net[kind], "in_service", True).astype(bool))
    kinds_a = np.array(kinds, dtype=str)
    if br.shape[0] < kinds_a.size:
        raise DataError(f"network '{nm}': pandapower returned {br.shape[0]} branches for {kinds_a.size}")
    br = br[: kinds_a.size]
    fr, to = pos_of_ppc[br[:, F_BUS].astype(int)], pos_of_ppc[br[:, T_BUS].astype(int)]
    keep = np.concatenate([np.zeros(0, bool), *in_service]) & (br[:, BR_STATUS] > 0) & (fr >= 0) & (to >= 0)
    tap = np.where(br[:, TAP] != 0, br[:, TAP], 1.0)
    rate = br[:, RATE_A].copy()
    for kind in ("line", "trafo"):  # no max_loading_percent column: pandapower's pf mode puts 100
        if kind in work._pd2ppc_lookups["branch"] and "max_loading_percent" not in net[kind]:
            f, t = work._pd2ppc_lookups["branch"][kind]
            rate[f:t] = np.inf
    rate[~np.isfinite(rate) | (rate <= 0)] = np.inf

    # generators
    costs = _cost_table(net)
    g_bus, g_min, g_max, g_cost, g_name = [], [], [], [], []
    missing: list[Problem] = []

    def add_gen(et: str, df: Any, fixed: np.ndarray | None) -> None:
        for k, i in enumerate(df.index):
            row = df.loc[i]
            if fixed is not None and fixed[k]:
                p = float(row.p_mw) * float(row.get("scaling", 1.0))
                lo = hi = p
            else:
                lo, hi = float(row.get("min_p_mw", np.nan)), float(row.get("max_p_mw", np.nan))
            c = costs.get((et, int(i)))
            if c is None:
                if fixed is not None and fixed[k]:
                    c = (0.0, 0.0, 0.0)
                else:
                    missing.append(Problem(f"{et} {i}", "cost", "no poly_cost or pwl_cost entry"))
                    c = (0.0, 0.0, 0.0)
            g_bus.append(int(row.bus))
            g_min.append(lo)
            g_max.append(hi)
            g_cost.append(c)
            g_name.append(f"{et} {i}")

    def live(df: Any) -> Any:  # in service and at an in-service bus
        df = _in_service(df)
        return df[np.isin(df.bus.values, bus_ids)]

    eg = live(net.ext_grid)
    add_gen("ext_grid", eg, None)
    gen = live(net.gen)
    add_gen("gen", gen, ~_col(gen, "controllable", True).astype(bool))
    sgen = live(net.sgen)
    ctrl = _col(sgen, "controllable", False).astype(bool)
    ctrl = np.where(np.asarray([x is None or x != x for x in ctrl], dtype=bool), False, ctrl)
    add_gen("sgen", sgen[ctrl], None)
    for f, vals in (("min_p_mw", g_min), ("max_p_mw", g_max)):
        missing += [Problem(g_name[i], f, "missing (NaN)") for i, v in enumerate(vals) if not np.isfinite(v)]
    if missing:
        raise ValidationError(f"network '{nm}' (pandapower)", missing)

    # loads: loads, then non-controllable sgen as negative loads
    ld = live(net.load)
    ng = sgen[~ctrl]
    load_bus = np.concatenate([bpos(ld.bus), bpos(ng.bus)])
    load_mw = np.concatenate(
        [ld.p_mw.values * _col(ld, "scaling", 1.0), -ng.p_mw.values * _col(ng, "scaling", 1.0)]
    )
    load_name = [f"load {i}" for i in ld.index] + [f"sgen {i}" for i in ng.index]

    if len(eg):
        slack_id = int(eg.bus.values[0])
    elif len(gen) and _col(gen, "slack", False).astype(bool).any():
        slack_id = int(gen.bus.values[_col(gen, "slack", False).astype(bool)][0])
    else:
        slack_id = g_bus[int(np.argmax(g_max))] if g_bus else int(bus_ids[0])
    c = np.asarray(g_cost, dtype=float).reshape(-1, 3)
    return cls(
        name=nm, base_mva=float(net.sn_mva), bus_ids=bus_ids, line_from=fr[keep], line_to=to[keep],
        line_x_pu=(br[:, BR_X] * tap)[keep], line_rate_mw=rate[keep], gen_bus=bpos(g_bus),
        gen_pmin_mw=np.asarray(g_min, float), gen_pmax_mw=np.asarray(g_max, float),
        gen_cost_c2=c[:, 0], gen_cost_c1=c[:, 1], gen_cost_c0=c[:, 2],
        gen_ramp_mw_per_h=np.full(len(g_bus), np.inf), gen_type=np.full(len(g_bus), "", dtype="<U16"),
        load_bus=load_bus, load_mw=load_mw, slack_bus=pos.get(slack_id, -1),
        gen_name=np.asarray(g_name, dtype=str), load_name=np.asarray(load_name, dtype=str),
        line_name=kinds_a[keep],
    )  # fmt: skip

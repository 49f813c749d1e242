"""gridflex's own distribution network model: one table of arrays per element kind, and its checks.

Units are physical and carried by the column names (kV, ohm, nF, MW, MVA); ``per_unit`` derives the
per-unit admittances (base ``BASE_MVA``, each bus's nominal voltage) that the sensitivities need.
Signs of injections follow pandapower, whose data we read: ``load.p_mw`` and ``storage.p_mw`` are
consumption (storage: charging), ``sgen.p_mw`` is production. Everything gridflex computes from them
uses the house convention: power positive = consumption at the connection point.

Buses joined by closed bus-bus switches are fused by the converters; an open switch at a line or
transformer end is kept as ``from_closed``/``to_closed`` (``hv_closed``/``lv_closed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridflex.errors import NetworkError, Problem

BASE_MVA = 1.0
ELEMENT_KINDS = ("load", "sgen", "storage")  # connection elements, in this order everywhere

# Each table's columns and dtypes: the single definition the converters, checks and file format share.
COLUMNS: dict[str, dict[str, type]] = {
    "bus": {"name": str, "vn_kv": float},
    "line": {
        "name": str, "from_bus": int, "to_bus": int, "r_ohm": float, "x_ohm": float, "c_nf": float,
        "g_us": float, "max_i_ka": float, "from_closed": bool, "to_closed": bool,
    },
    "trafo": {
        "name": str, "hv_bus": int, "lv_bus": int, "sn_mva": float, "rating_mva": float, "vn_hv_kv": float,
        "vn_lv_kv": float, "vk_percent": float, "vkr_percent": float, "pfe_kw": float, "i0_percent": float,
        "shift_degree": float, "tap_side_lv": bool, "tap_pos": int, "tap_neutral": int, "tap_min": int,
        "tap_max": int, "tap_step_percent": float, "hv_closed": bool, "lv_closed": bool,
    },
    "load": {"name": str, "bus": int, "p_mw": float, "q_mvar": float, "profile": str},
    "sgen": {"name": str, "bus": int, "p_mw": float, "q_mvar": float, "profile": str, "kind": str},
    "storage": {"name": str, "bus": int, "p_mw": float, "q_mvar": float, "max_e_mwh": float, "profile": str},
    "ext_grid": {"name": str, "bus": int, "vm_pu": float, "va_degree": float},
}  # fmt: skip


class Table:
    """Columns of equal length, read as attributes: ``net.line.r_ohm``."""

    def __init__(self, kind: str, columns: dict[str, Any]) -> None:
        spec = COLUMNS[kind]
        n = len(next(iter(columns.values()))) if columns else 0
        cols = {}
        for name, typ in spec.items():
            values = columns.get(name)
            if values is None:
                raise KeyError(f"{kind}.{name} missing")
            arr: np.ndarray = np.asarray(values, dtype=object if typ is str else typ)
            if arr.shape != (n,):
                raise ValueError(f"{kind}.{name}: {arr.shape} values, expected ({n},)")
            cols[name] = arr
        self.table_kind = kind
        self.columns = cols

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self.columns["name"])

    @classmethod
    def empty(cls, kind: str) -> Table:
        return cls(kind, {c: [] for c in COLUMNS[kind]})


@dataclass
class DistributionNetwork:
    """A balanced distribution network: buses, lines, transformers, loads, sgens, storage, ext grids."""

    name: str
    tables: dict[str, Table]
    f_hz: float = 50.0
    source: str = ""  # where it came from (SimBench code, pandapower network, file), for reports
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind in COLUMNS:
            self.tables.setdefault(kind, Table.empty(kind))

    bus = property(lambda self: self.tables["bus"])
    line = property(lambda self: self.tables["line"])
    trafo = property(lambda self: self.tables["trafo"])
    load = property(lambda self: self.tables["load"])
    sgen = property(lambda self: self.tables["sgen"])
    storage = property(lambda self: self.tables["storage"])
    ext_grid = property(lambda self: self.tables["ext_grid"])

    @property
    def n_elements(self) -> int:
        return sum(len(self.tables[k]) for k in ELEMENT_KINDS)

    def element_names(self) -> np.ndarray:
        """Names of loads, sgens and storage units, in the order of every per-element array."""
        return np.concatenate([self.tables[k].name for k in ELEMENT_KINDS]).astype(object)

    def element_bus(self) -> np.ndarray:
        return np.concatenate([self.tables[k].bus for k in ELEMENT_KINDS]).astype(np.int64)

    def element_sign(self) -> np.ndarray:
        """+1 where the element's ``p_mw`` is consumption (load, storage), -1 where production (sgen)."""
        return np.concatenate(
            [np.full(len(self.tables[k]), -1.0 if k == "sgen" else 1.0) for k in ELEMENT_KINDS]
        )

    def branch_names(self) -> np.ndarray:
        return np.concatenate([self.line.name, self.trafo.name]).astype(object)

    def summary(self) -> dict[str, int]:
        return {k: len(t) for k, t in self.tables.items()}


def validate_network(net: DistributionNetwork) -> list[Problem]:
    """Every problem that would make a power flow meaningless, each naming its element."""
    problems: list[Problem] = []
    n_bus = len(net.bus)

    def bad(kind: str, mask: np.ndarray, fld: str, message: str) -> None:
        for i in np.flatnonzero(mask):
            problems.append(Problem(f"{kind} {net.tables[kind].name[i]}", fld, message))

    def finite_pos(kind: str, col: str, allow_zero: bool = False) -> None:
        v = getattr(net.tables[kind], col).astype(float)
        ok = np.isfinite(v) & ((v >= 0) if allow_zero else (v > 0))
        bad(kind, ~ok, col, "missing" if allow_zero else "missing or not positive")

    finite_pos("bus", "vn_kv")
    for kind, cols in {"line": ("from_bus", "to_bus"), "trafo": ("hv_bus", "lv_bus")}.items():
        for col in cols:
            v = getattr(net.tables[kind], col)
            bad(kind, (v < 0) | (v >= n_bus), col, "not a bus of this network")
    for col in ("r_ohm", "x_ohm", "c_nf", "g_us"):
        finite_pos("line", col, allow_zero=True)
    finite_pos("line", "max_i_ka")
    bad("line", (net.line.r_ohm == 0) & (net.line.x_ohm == 0), "x_ohm", "zero impedance (use a switch)")
    bad("line", (net.line.g_us > 0) & (net.line.c_nf <= 0), "g_us", "conductance without capacitance")
    for col in ("sn_mva", "rating_mva", "vn_hv_kv", "vn_lv_kv", "vk_percent"):
        finite_pos("trafo", col)
    for col in ("vkr_percent", "pfe_kw", "i0_percent", "tap_step_percent"):
        finite_pos("trafo", col, allow_zero=True)
    t = net.trafo
    bad("trafo", t.vkr_percent >= t.vk_percent, "vkr_percent", "not below vk_percent")
    bad("trafo", (t.tap_pos < t.tap_min) | (t.tap_pos > t.tap_max), "tap_pos", "outside tap_min..tap_max")
    bad("trafo", ~np.isfinite(t.shift_degree.astype(float)) | (t.shift_degree % 30 != 0),
        "shift_degree", "not a multiple of 30 degrees")  # fmt: skip
    for kind in (*ELEMENT_KINDS, "ext_grid"):
        b = net.tables[kind].bus
        bad(kind, (b < 0) | (b >= n_bus), "bus", "not a bus of this network")
    for kind in ELEMENT_KINDS:
        for col in ("p_mw", "q_mvar"):
            v = getattr(net.tables[kind], col).astype(float)
            bad(kind, ~np.isfinite(v), col, "missing")
    if len(net.ext_grid) == 0:
        problems.append(Problem(f"network {net.name}", "ext_grid", "no external grid (slack) at all"))
    if problems:
        return problems  # islands are only meaningful on a well-formed network
    return problems + _island_problems(net)


def energized_buses(net: DistributionNetwork) -> np.ndarray:
    """Buses connected to an external grid through closed branches."""
    n = len(net.bus)
    on_l = net.line.from_closed & net.line.to_closed
    on_t = net.trafo.hv_closed & net.trafo.lv_closed
    a = np.concatenate([net.line.from_bus[on_l], net.trafo.hv_bus[on_t]]).astype(np.int64)
    b = np.concatenate([net.line.to_bus[on_l], net.trafo.lv_bus[on_t]]).astype(np.int64)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    fed = np.isin(label, label[net.ext_grid.bus.astype(np.int64)])
    return fed


def _island_problems(net: DistributionNetwork) -> list[Problem]:
    fed = energized_buses(net)
    problems = []
    for kind in ELEMENT_KINDS:
        t = net.tables[kind]
        for i in np.flatnonzero(~fed[t.bus.astype(np.int64)]):
            bus = net.bus.name[t.bus[i]]
            problems.append(
                Problem(f"{kind} {t.name[i]}", "bus", f"bus {bus} is in an island without a source")
            )
    return problems


def check_network(net: DistributionNetwork) -> DistributionNetwork:
    """Raise ``NetworkError`` listing every problem; return the network when there is none."""
    problems = validate_network(net)
    if problems:
        raise NetworkError(f"network {net.name}", problems)
    return net


@dataclass(frozen=True)
class PerUnitBranches:
    """Branch admittances in per unit (MATPOWER convention): I_from = yff V_f + yft V_t, I_to = ytf V_f + ytt V_t."""

    from_bus: np.ndarray
    to_bus: np.ndarray
    yff: np.ndarray
    yft: np.ndarray
    ytf: np.ndarray
    ytt: np.ndarray
    i_base_from_ka: np.ndarray  # per-unit current at the from end in kA
    i_base_to_ka: np.ndarray


def per_unit_branches(net: DistributionNetwork) -> PerUnitBranches:
    """Lines (pi model) and transformers (pi model, tap and phase shift) as per-unit admittances."""
    vn = net.bus.vn_kv.astype(float)
    w = 2 * np.pi * net.f_hz
    ln = net.line
    fb, tb = ln.from_bus.astype(np.int64), ln.to_bus.astype(np.int64)
    z_base = vn[fb] ** 2 / BASE_MVA
    ys = 1.0 / ((ln.r_ohm + 1j * ln.x_ohm) / z_base)
    ysh = (ln.g_us * 1e-6 + 1j * w * ln.c_nf * 1e-9) * z_base / 2
    yff, ytt = ys + ysh, ys + ysh
    yft, ytf = -ys.astype(complex), -ys.astype(complex)
    yff, yft, ytf, ytt = _open_ends(yff, yft, ytf, ytt, ys, ysh, ln.from_closed, ln.to_closed)

    t = net.trafo
    hv, lv = t.hv_bus.astype(np.int64), t.lv_bus.astype(np.int64)
    tap = (t.tap_pos - t.tap_neutral) * t.tap_step_percent / 100
    u_hv = t.vn_hv_kv * (1 + np.where(t.tap_side_lv, 0.0, tap))
    u_lv = t.vn_lv_kv * (1 + np.where(t.tap_side_lv, tap, 0.0))
    # series impedance referred to the LV side at rated (untapped) voltage, as pandapower and PGM do
    z_ohm = t.vk_percent / 100 * t.vn_lv_kv**2 / t.sn_mva
    r_ohm = t.vkr_percent / 100 * t.vn_lv_kv**2 / t.sn_mva
    z_base_lv = vn[lv] ** 2 / BASE_MVA
    z_pu = (r_ohm + 1j * np.sqrt(np.maximum(z_ohm**2 - r_ohm**2, 0))) / z_base_lv
    y_s = 1 / z_pu
    g_m = t.pfe_kw / 1e3 / t.sn_mva
    y_mag = np.sqrt(np.maximum((t.i0_percent / 100) ** 2 - g_m**2, 0))
    y_m = (g_m - 1j * y_mag) * t.sn_mva / BASE_MVA * (t.vn_lv_kv**2 / vn[lv] ** 2)
    ratio = (u_hv / vn[hv]) / (u_lv / vn[lv]) * np.exp(1j * np.deg2rad(t.shift_degree))
    tff = (y_s + y_m / 2) / np.abs(ratio) ** 2
    ttt = y_s + y_m / 2
    tft = -y_s / np.conj(ratio)
    ttf = -y_s / ratio
    # a transformer open at one end: its magnetising half stays on the other
    tff, tft, ttf, ttt = _open_ends(
        tff, tft, ttf, ttt, y_s / np.abs(ratio) ** 2, y_m / 2, t.hv_closed, t.lv_closed
    )
    return PerUnitBranches(
        from_bus=np.concatenate([fb, hv]),
        to_bus=np.concatenate([tb, lv]),
        yff=np.concatenate([yff, tff]),
        yft=np.concatenate([yft, tft]),
        ytf=np.concatenate([ytf, ttf]),
        ytt=np.concatenate([ytt, ttt]),
        i_base_from_ka=BASE_MVA / (np.sqrt(3) * vn[np.concatenate([fb, hv])]),
        i_base_to_ka=BASE_MVA / (np.sqrt(3) * vn[np.concatenate([tb, lv])]),
    )


def _open_ends(
    yff: np.ndarray, yft: np.ndarray, ytf: np.ndarray, ytt: np.ndarray, ys: np.ndarray, ysh: np.ndarray,
    from_closed: np.ndarray, to_closed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """A branch open at one end leaves only its shunt path (series + far shunt) on the other."""
    yff, yft, ytf, ytt = (np.array(a, dtype=complex) for a in (yff, yft, ytf, ytt))
    only_from = from_closed & ~to_closed
    only_to = to_closed & ~from_closed
    off = ~from_closed & ~to_closed
    with np.errstate(divide="ignore", invalid="ignore"):
        dangling = ys * ysh / (ys + ysh)
    dangling = np.nan_to_num(dangling)
    yff[only_from] = (ysh + dangling)[only_from]
    ytt[only_to] = (ysh + dangling)[only_to]
    for arr, mask in ((yff, only_to | off), (ytt, only_from | off)):
        arr[mask] = 0
    for arr in (yft, ytf):
        arr[~(from_closed & to_closed)] = 0
    return yff, yft, ytf, ytt

"""Converters into gridflex's network model: pandapower nets (CIGRE, JSON), SimBench codes, MATPOWER cases.

gridflex converts these itself (not through power-grid-model-io, which is off by up to 0.027 pu on some
SimBench grids and drops storage). Whatever cannot be represented faithfully is refused, naming it:
unknown element types, missing line or transformer parameters, voltage-dependent loads, phase shifters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridflex.errors import NetworkError, Problem
from gridflex.grid.distribution.model import DistributionNetwork, Table, check_network
from gridflex.grid.distribution.profiles import Profiles

SUPPORTED = {"bus", "line", "trafo", "load", "sgen", "storage", "ext_grid", "switch"}
# pandapower tables without electrical meaning for a balanced power flow
IGNORED = {"measurement"}


def _names(df: pd.DataFrame, kind: str) -> np.ndarray:
    names = df["name"] if "name" in df else pd.Series([None] * len(df), index=df.index)
    out = [str(n) if isinstance(n, str) and n else f"{kind}{i}" for i, n in zip(df.index, names, strict=True)]
    return np.array(out, dtype=object)


def _col(df: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in df:
        return np.full(len(df), default, dtype=float)
    return pd.to_numeric(df[name], errors="coerce").fillna(default).to_numpy(float)


def _fuse_buses(net: Any) -> np.ndarray:
    """Representative pandapower bus index of each bus: closed bus-bus switches fuse their buses."""
    parent = {int(b): int(b) for b in net.bus.index}

    def find(b: int) -> int:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    sw = net.switch
    for _, s in sw[(sw.et == "b") & sw.closed.astype(bool)].iterrows():
        a, b = find(int(s.bus)), find(int(s.element))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([find(int(b)) for b in net.bus.index])


def from_pandapower(net: Any, name: str | None = None, source: str = "pandapower") -> DistributionNetwork:
    """Convert a pandapower network (in-service elements only); raise ``NetworkError`` naming what cannot be."""
    conv = _PandapowerConverter(net)
    tables = {"bus": conv.buses(), "line": conv.lines(), "trafo": conv.trafos(), "ext_grid": conv.ext_grids()}
    for kind in ("load", "sgen", "storage"):
        tables[kind] = conv.elements(kind)
    label = name or (net.name if isinstance(getattr(net, "name", None), str) and net.name else "network")
    if conv.problems:
        raise NetworkError(f"network {label}", conv.problems)
    f_hz = float(getattr(net, "f_hz", 50.0) or 50.0)
    return check_network(DistributionNetwork(label, tables, f_hz=f_hz, source=source))


class _PandapowerConverter:
    """One method per table; ``problems`` collects what cannot be represented, naming each element."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.problems: list[Problem] = []
        for kind in sorted(_element_tables(net) - SUPPORTED - IGNORED):
            for idx, row in net[kind].iterrows():
                if bool(row.get("in_service", True)):
                    label = row.get("name") if isinstance(row.get("name"), str) else f"{kind}{idx}"
                    self.problems.append(
                        Problem(f"{kind} {label}", "type", f"element type '{kind}' is not supported")
                    )
        sw = net.switch
        for idx, s in sw[(sw.et == "b") & sw.closed.astype(bool)].iterrows():
            if float(s.get("z_ohm", 0.0) or 0.0) > 0:
                self.problems.append(
                    Problem(f"switch {s.get('name') or idx}", "z_ohm", "switch with impedance")
                )
        self.rep = _fuse_buses(net)
        self.bus_index = {int(b): i for i, b in enumerate(net.bus.index)}
        self.bus_ok = (
            net.bus.in_service.to_numpy(bool) if "in_service" in net.bus else np.ones(len(net.bus), bool)
        )
        self.keep = [i for i, b in enumerate(net.bus.index) if self.rep[i] == int(b) and self.bus_ok[i]]
        self.new_of_rep = {int(net.bus.index[i]): k for k, i in enumerate(self.keep)}

    def new_bus(self, pp_bus: Any) -> np.ndarray:
        """gridflex bus index of pandapower buses (-1: out of service)."""
        out = []
        for b in np.asarray(pp_bus, dtype=np.int64):
            i = self.bus_index.get(int(b))
            out.append(-1 if i is None or not self.bus_ok[i] else self.new_of_rep.get(int(self.rep[i]), -1))
        return np.array(out, dtype=np.int64)

    def closed_end(self, kind: str, df: pd.DataFrame, pp_bus_col: str) -> np.ndarray:
        """False where an open switch of type ``kind`` sits at that end."""
        sw = self.net.switch
        et = {"line": "l", "trafo": "t"}[kind]
        open_sw = sw[(sw.et == et) & ~sw.closed.astype(bool)]
        opened = set(zip(open_sw.element.astype(int), open_sw.bus.astype(int), strict=True))
        return np.array(
            [(int(i), int(b)) not in opened for i, b in zip(df.index, df[pp_bus_col], strict=True)],
            dtype=bool,
        )

    def buses(self) -> Table:
        df = self.net.bus.iloc[self.keep]
        return Table("bus", {"name": _names(df, "bus"), "vn_kv": _col(df, "vn_kv", np.nan)})

    def lines(self) -> Table:
        ln = self.net.line[self.net.line.in_service.astype(bool)]
        par = _col(ln, "parallel", 1.0)
        length = _col(ln, "length_km", np.nan)
        fb, tb = self.new_bus(ln.from_bus), self.new_bus(ln.to_bus)
        return Table("line", {
            "name": _names(ln, "line"), "from_bus": fb, "to_bus": tb,
            "r_ohm": _col(ln, "r_ohm_per_km", np.nan) * length / par,
            "x_ohm": _col(ln, "x_ohm_per_km", np.nan) * length / par,
            "c_nf": _col(ln, "c_nf_per_km", 0.0) * length * par,
            "g_us": _col(ln, "g_us_per_km", 0.0) * length * par,
            "max_i_ka": _col(ln, "max_i_ka", np.nan) * par * _col(ln, "df", 1.0),
            "from_closed": self.closed_end("line", ln, "from_bus") & (fb >= 0),
            "to_closed": self.closed_end("line", ln, "to_bus") & (tb >= 0),
        })  # fmt: skip

    def trafos(self) -> Table:
        tr = self.net.trafo[self.net.trafo.in_service.astype(bool)]
        names = _names(tr, "trafo")
        par = _col(tr, "parallel", 1.0)
        tap_pos = _col(tr, "tap_pos", 0.0)
        tap_neutral = _col(tr, "tap_neutral", 0.0)
        if "tap_changer_type" in tr:  # pandapower 3: no tap changer type means the tap position is ignored
            kind = tr["tap_changer_type"].to_numpy(object)
            none = np.array([not isinstance(k, str) or k in ("", "None") for k in kind], dtype=bool)
            tap_pos = np.where(none, tap_neutral, tap_pos)
            for i in np.flatnonzero(~none & (kind != "Ratio").astype(bool) & (tap_pos != tap_neutral)):
                self.problems.append(Problem(f"trafo {names[i]}", "tap_changer_type", f"'{kind[i]}' taps"))
        for i in np.flatnonzero((_col(tr, "tap_step_degree", 0.0) != 0) & (tap_pos != tap_neutral)):
            self.problems.append(Problem(f"trafo {names[i]}", "tap_step_degree", "phase shifter"))
        side = (
            tr["tap_side"].astype(str).str.lower().to_numpy() if "tap_side" in tr else np.full(len(tr), "hv")
        )
        hv, lv = self.new_bus(tr.hv_bus), self.new_bus(tr.lv_bus)
        sn = _col(tr, "sn_mva", np.nan)
        pos = np.round(tap_pos).astype(int)
        return Table("trafo", {
            "name": names, "hv_bus": hv, "lv_bus": lv,
            "sn_mva": sn * par, "rating_mva": sn * par * _col(tr, "df", 1.0),
            "vn_hv_kv": _col(tr, "vn_hv_kv", np.nan), "vn_lv_kv": _col(tr, "vn_lv_kv", np.nan),
            "vk_percent": _col(tr, "vk_percent", np.nan), "vkr_percent": _col(tr, "vkr_percent", np.nan),
            "pfe_kw": _col(tr, "pfe_kw", 0.0) * par, "i0_percent": _col(tr, "i0_percent", 0.0),
            "shift_degree": _col(tr, "shift_degree", 0.0), "tap_side_lv": side == "lv",
            "tap_pos": pos, "tap_neutral": np.round(tap_neutral).astype(int),
            "tap_min": np.round(_col(tr, "tap_min", 0.0)).astype(int).clip(max=pos),
            "tap_max": np.round(_col(tr, "tap_max", 0.0)).astype(int).clip(min=pos),
            "tap_step_percent": _col(tr, "tap_step_percent", 0.0),
            "hv_closed": self.closed_end("trafo", tr, "hv_bus") & (hv >= 0),
            "lv_closed": self.closed_end("trafo", tr, "lv_bus") & (lv >= 0),
        })  # fmt: skip

    def elements(self, kind: str) -> Table:
        df = self.net[kind][self.net[kind].in_service.astype(bool)]
        b = self.new_bus(df.bus)
        df, b = df[b >= 0], b[b >= 0]  # on an out-of-service bus: not connected, as in pandapower
        scaling = _col(df, "scaling", 1.0)
        cols: dict[str, Any] = {
            "name": _names(df, kind), "bus": b,
            "p_mw": _col(df, "p_mw", np.nan) * scaling, "q_mvar": _col(df, "q_mvar", 0.0) * scaling,
            "profile": np.array([p if isinstance(p, str) else "" for p in df.get("profile", [None] * len(df))], dtype=object),
        }  # fmt: skip
        if kind == "load":
            for col in ("const_z_percent", "const_i_percent", "const_z_p_percent", "const_i_p_percent",
                        "const_z_q_percent", "const_i_q_percent"):  # fmt: skip
                for i in np.flatnonzero(_col(df, col, 0.0) != 0):
                    self.problems.append(Problem(f"load {cols['name'][i]}", col, "voltage-dependent load"))
        if kind == "sgen":
            types = df.get("type", [None] * len(df))
            cols["kind"] = np.array([str(t) if isinstance(t, str) else "" for t in types], dtype=object)
        if kind == "storage":
            cols["max_e_mwh"] = _col(df, "max_e_mwh", np.nan)
        return Table(kind, cols)

    def ext_grids(self) -> Table:
        eg = self.net.ext_grid[self.net.ext_grid.in_service.astype(bool)]
        return Table("ext_grid", {
            "name": _names(eg, "ext_grid"), "bus": self.new_bus(eg.bus),
            "vm_pu": _col(eg, "vm_pu", 1.0), "va_degree": _col(eg, "va_degree", 0.0),
        })  # fmt: skip


def _element_tables(net: Any) -> set[str]:
    from pandapower.toolbox import pp_elements

    return {
        k
        for k in pp_elements(res_elements=False)
        if k in net and isinstance(net[k], pd.DataFrame) and len(net[k])
    }


def from_pandapower_json(path: str | Path) -> DistributionNetwork:
    import pandapower as pp

    try:
        net = pp.from_json(str(path))
    except Exception as exc:  # pandapower raises bare exceptions on malformed files
        from gridflex.errors import DataError

        raise DataError(f"{path}: not a pandapower JSON network ({exc})") from None
    return from_pandapower(net, name=Path(path).stem, source=f"pandapower JSON {Path(path).name}")


def cigre(kind: str) -> DistributionNetwork:
    """The CIGRE benchmark networks of pandapower.networks: ``mv`` (with all DER, incl. storage) or ``lv``."""
    import pandapower.networks as pn

    if kind == "mv":
        return from_pandapower(pn.create_cigre_network_mv(with_der="all"), "cigre-mv", "pandapower CIGRE MV")
    if kind == "lv":
        return from_pandapower(pn.create_cigre_network_lv(), "cigre-lv", "pandapower CIGRE LV")
    raise NetworkError("cigre", [Problem("cigre", "kind", f"unknown CIGRE network '{kind}' (mv, lv)")])


def from_matpower(path: str | Path) -> DistributionNetwork:
    """A MATPOWER case (.m or .mat) through pandapower's reader; only its slack generator may remain."""
    from pandapower.converter.matpower.from_mpc import from_mpc

    net = from_mpc(str(path), f_hz=50)
    return from_pandapower(net, name=Path(path).stem, source=f"MATPOWER {Path(path).name}")


def simbench_net(code: str) -> Any:
    """The pandapower net of a SimBench code; needs the optional ``simbench`` package."""
    try:
        import simbench
    except ImportError:
        raise NetworkError(
            code, [Problem(code, "simbench", "install gridflex[simbench] to load SimBench codes")]
        ) from None
    try:
        return simbench.get_simbench_net(code)
    except Exception as exc:  # simbench raises bare errors on unknown codes
        raise NetworkError(code, [Problem(code, "code", f"not a SimBench code ({exc})")]) from None


def from_simbench(code: str) -> tuple[DistributionNetwork, Profiles]:
    """A SimBench grid and its year of 15-min profiles (2016, 35,136 periods)."""
    net = simbench_net(code)
    network = from_pandapower(net, name=code, source=f"SimBench {code} (ODbL, simbench.de)")
    return network, profiles_from_simbench(net)


def profiles_from_simbench(net: Any) -> Profiles:
    """SimBench's profile tables as gridflex profiles: factors per profile name, element kind and quantity."""
    names, cols = [], []
    tables = net.profiles
    load = tables["load"]
    for c in load.columns:
        if c.endswith("_pload") or c.endswith("_qload"):
            names.append(f"load_{c[-5]}:{c[:-6]}")
            cols.append(load[c].to_numpy(float))
    for kind, key in (("sgen", "renewables"), ("storage", "storage"), ("sgen", "powerplants")):
        df = tables.get(key)
        if df is None:
            continue
        for c in df.columns:
            if c != "time":
                names.append(f"{kind}:{c}")
                cols.append(df[c].to_numpy(float))
    start = pd.to_datetime(load["time"].iloc[0], format="%d.%m.%Y %H:%M").to_pydatetime()
    values = np.column_stack(cols) if cols else np.zeros((len(load), 0))
    return Profiles(start=start, step_min=15, names=names, values=values)


def to_pandapower(network: DistributionNetwork, series: Any = None, period: int = 0) -> Any:
    """A pandapower net of the network (the reference power flow); with ``series``, at that period's powers."""
    import pandapower as pp

    net = pp.create_empty_network(name=network.name, f_hz=network.f_hz)
    b, ln, t = network.bus, network.line, network.trafo
    for i in range(len(b)):
        pp.create_bus(net, vn_kv=float(b.vn_kv[i]), name=str(b.name[i]), index=i)
    for i in range(len(ln)):
        pp.create_line_from_parameters(
            net, int(ln.from_bus[i]), int(ln.to_bus[i]), length_km=1.0, r_ohm_per_km=float(ln.r_ohm[i]),
            x_ohm_per_km=float(ln.x_ohm[i]), c_nf_per_km=float(ln.c_nf[i]), g_us_per_km=float(ln.g_us[i]),
            max_i_ka=float(ln.max_i_ka[i]), name=str(ln.name[i]), index=i,
        )  # fmt: skip
        for end, closed in ((ln.from_bus[i], ln.from_closed[i]), (ln.to_bus[i], ln.to_closed[i])):
            if not closed:
                pp.create_switch(net, int(end), i, et="l", closed=False)
    for i in range(len(t)):
        pp.create_transformer_from_parameters(
            net, int(t.hv_bus[i]), int(t.lv_bus[i]), sn_mva=float(t.sn_mva[i]), vn_hv_kv=float(t.vn_hv_kv[i]),
            vn_lv_kv=float(t.vn_lv_kv[i]), vk_percent=float(t.vk_percent[i]), vkr_percent=float(t.vkr_percent[i]),
            pfe_kw=float(t.pfe_kw[i]), i0_percent=float(t.i0_percent[i]), shift_degree=float(t.shift_degree[i]),
            tap_side="lv" if t.tap_side_lv[i] else "hv", tap_pos=int(t.tap_pos[i]), tap_neutral=int(t.tap_neutral[i]),
            tap_min=int(t.tap_min[i]), tap_max=int(t.tap_max[i]), tap_step_percent=float(t.tap_step_percent[i]),
            tap_changer_type="Ratio", df=float(t.rating_mva[i] / t.sn_mva[i]), name=str(t.name[i]), index=i,
        )  # fmt: skip
        for end, closed in ((t.hv_bus[i], t.hv_closed[i]), (t.lv_bus[i], t.lv_closed[i])):
            if not closed:
                pp.create_switch(net, int(end), i, et="t", closed=False)
    k = 0
    for kind, create in (("load", pp.create_load), ("sgen", pp.create_sgen), ("storage", pp.create_storage)):
        tab = network.tables[kind]
        sign = -1.0 if kind == "sgen" else 1.0
        for i in range(len(tab)):
            p, q = float(tab.p_mw[i]), float(tab.q_mvar[i])
            if series is not None:
                p, q = sign * float(series.p_mw[period, k]), sign * float(series.q_mvar[period, k])
            extra = {"max_e_mwh": float(tab.max_e_mwh[i])} if kind == "storage" else {}
            create(net, int(tab.bus[i]), p_mw=p, q_mvar=q, name=str(tab.name[i]), **extra)
            k += 1
    eg = network.ext_grid
    for i in range(len(eg)):
        pp.create_ext_grid(
            net,
            int(eg.bus[i]),
            vm_pu=float(eg.vm_pu[i]),
            va_degree=float(eg.va_degree[i]),
            name=str(eg.name[i]),
        )
    return net

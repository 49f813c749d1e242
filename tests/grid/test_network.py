"""Network arrays from pandapower: PTDF against pandapower's DC power flow, conversions, validation."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from gridflex.errors import DataError, ValidationError
from gridflex.grid import Network


@cache
def _pp_case(name: str):  # pandapower's JSON cases take ~0.5 s each to load: once per process
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(pn, name)()


def pp_case(name: str):
    return copy.deepcopy(_pp_case(name))


@pytest.mark.parametrize("case", ["case24_ieee_rts", "case39"])
def test_ptdf_flows_equal_pandapower_rundcpp(case: str) -> None:
    net = pp_case(case)
    rng = np.random.default_rng(7)
    net.load["p_mw"] *= rng.uniform(0.3, 1.2, len(net.load))
    for tab in ("gen", "sgen"):
        if len(net[tab]):
            net[tab]["p_mw"] = rng.uniform(0.0, 1.0, len(net[tab])) * net[tab]["max_p_mw"].values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcpp(net)
    ours = Network.from_pandapower(net, name=case)
    inj = -net.res_bus.p_mw.loc[ours.bus_ids].to_numpy()  # pandapower: + = consumption
    flow = ours.ptdf() @ inj
    pp_flow = {f"line {i}": v for i, v in net.res_line.p_from_mw.items()}
    pp_flow |= {f"trafo {i}": v for i, v in net.res_trafo.p_hv_mw.items()}
    expected = np.array([pp_flow[n] for n in ours.line_name])
    np.testing.assert_allclose(flow, expected, atol=1e-6, rtol=1e-9)


def test_case_arrays_and_ptdf_properties() -> None:
    net = Network.from_pandapower(pp_case("case24_ieee_rts"), name="rts")
    assert (net.n_buses, net.n_lines, net.n_gens, net.n_loads) == (24, 38, 33, 17)
    assert net.bus_ids.tolist() == list(range(24)) and net.slack_bus == 12  # RTS bus 13
    assert np.isclose(net.load_mw.sum(), 2850.0)
    assert np.isclose(net.line_rate_mw[0], 175.0) and np.all(net.line_rate_mw[-5:] == 400.0)  # trafos
    ptdf = net.ptdf()
    assert ptdf.shape == (38, 24) and np.all(ptdf[:, net.slack_bus] == 0)
    assert net.ptdf() is ptdf and not ptdf.flags.writeable
    with pytest.raises(ValueError):
        net.gen_pmax_mw[0] = 1.0  # read-only arrays: the cached PTDF cannot go stale
    assert np.all(np.isinf(net.gen_ramp_mw_per_h)) and np.all(net.gen_type == "")
    assert net.gen_name[0] == "ext_grid 0" and net.load_name[0] == "load 0"


def test_out_of_service_parallel_and_noncontrollable() -> None:
    base = pp_case("case30")
    net = copy.deepcopy(base)
    net.line.loc[0, "in_service"] = False
    net.gen.loc[1, "in_service"] = False
    pp.create_sgen(net, bus=5, p_mw=7.0, controllable=False)
    ours = Network.from_pandapower(net)
    ref = Network.from_pandapower(base)
    assert ours.n_lines == ref.n_lines - 1 and "line 0" not in ours.line_name
    assert ours.n_gens == ref.n_gens - 1 and "gen 1" not in ours.gen_name
    assert ours.load_mw[-1] == -7.0 and ours.load_name[-1].startswith("sgen")
    # a parallel copy of a line halves its share: each copy carries half the old flow
    par = copy.deepcopy(base)
    pp.create_line_from_parameters(par, **{k: par.line.loc[3, k] for k in (
        "from_bus", "to_bus", "length_km", "r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka")},
        max_loading_percent=100.0)  # fmt: skip
    two = Network.from_pandapower(par)
    inj = np.zeros(ref.n_buses)
    inj[[1, 20]] = [50.0, -50.0]
    f_ref, f_two = ref.ptdf() @ inj, two.ptdf() @ inj
    assert f_two.size == f_ref.size + 1
    assert np.isclose(f_two[3], f_two[-1]) and abs(f_two[3]) > 1.0
    # two copies in parallel = one line of half the reactance
    half = dataclasses.replace(
        ref, line_x_pu=np.where(np.arange(ref.n_lines) == 3, ref.line_x_pu / 2, ref.line_x_pu)
    )
    np.testing.assert_allclose(
        f_two[:-1] + np.where(np.arange(ref.n_lines) == 3, f_two[-1], 0.0), half.ptdf() @ inj
    )


def test_from_matpower_mat_round_trip(tmp_path: Path) -> None:
    from pandapower.converter.matpower.to_mpc import to_mpc

    path = tmp_path / "c30.mat"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        to_mpc(pp_case("case30"), str(path), init="flat")
    got = Network.from_matpower(path)
    ref = Network.from_pandapower(pp_case("case30"))
    assert got.name == "c30" and (got.n_buses, got.n_lines, got.n_gens) == (
        ref.n_buses,
        ref.n_lines,
        ref.n_gens,
    )
    np.testing.assert_allclose(got.ptdf(), ref.ptdf(), atol=1e-12)
    np.testing.assert_allclose(got.line_rate_mw, ref.line_rate_mw)
    np.testing.assert_allclose(got.gen_cost_c1, ref.gen_cost_c1)


def test_reading_errors_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        Network.from_matpower(tmp_path / "missing.mat")
    with pytest.raises(DataError, match=r"\.m or \.mat"):
        Network.from_matpower(tmp_path / "case.txt")
    with pytest.raises(DataError, match="unknown pandapower case"):
        Network.case("case_does_not_exist")
    net = pp_case("case14")
    pp.create_transformer3w(net, hv_bus=0, mv_bus=1, lv_bus=2, std_type="63/25/38 MVA 110/20/10 kV")
    with pytest.raises(DataError, match="trafo3w"):
        Network.from_pandapower(net)


def test_missing_costs_name_the_generators() -> None:
    net = pp_case("case30")
    net.poly_cost = net.poly_cost[~((net.poly_cost.et == "gen") & (net.poly_cost.element.isin([0, 2])))]
    with pytest.raises(ValidationError, match=r"gen 0\.cost") as e:
        Network.from_pandapower(net)
    assert {p.object_id for p in e.value.problems} == {"gen 0", "gen 2"}


def test_pwl_cost_single_slope_is_linear() -> None:
    net = pp_case("case9")
    net.poly_cost = net.poly_cost[net.poly_cost.et != "gen"]
    for i in net.gen.index:
        pp.create_pwl_cost(net, i, "gen", [[0.0, 150.0, 20.0], [150.0, 300.0, 20.0]])
    ours = Network.from_pandapower(net)
    assert np.all(ours.gen_cost_c1[1:] == 20.0) and np.all(ours.gen_cost_c2[1:] == 0.0)


def test_validation_names_element_and_field() -> None:
    net = Network.from_pandapower(pp_case("case30"))
    with pytest.raises(ValidationError, match=r"gen 0\.pmin_mw: pmin > pmax"):
        dataclasses.replace(net, gen_pmin_mw=np.where(np.arange(net.n_gens) == 1, 999.0, net.gen_pmin_mw))
    with pytest.raises(ValidationError, match=r"line 4\.x_pu"):
        dataclasses.replace(net, line_x_pu=np.where(np.arange(net.n_lines) == 4, 0.0, net.line_x_pu))
    with pytest.raises(ValidationError, match="no generator"):
        dataclasses.replace(net, gen_bus=net.gen_bus[:0], gen_pmin_mw=[], gen_pmax_mw=[], gen_cost_c2=[],
                            gen_cost_c1=[], gen_cost_c0=[], gen_ramp_mw_per_h=[], gen_type=[], gen_name=[])  # fmt: skip
    with pytest.raises(ValidationError, match="gen_pmax_mw: has length"):
        dataclasses.replace(net, gen_pmax_mw=net.gen_pmax_mw[:-1])
    with pytest.raises(ValidationError, match="cost_c2"):
        dataclasses.replace(net, gen_cost_c2=-np.ones(net.n_gens))


@pytest.mark.parametrize(
    ("field", "name"),
    [("gen_pmax_mw", "pmax_mw"), ("gen_cost_c1", "cost_c1"), ("load_mw", "load_mw"), ("line_rate_mw", "rate_mw"),
     ("line_x_pu", "x_pu")],
)  # fmt: skip
def test_values_the_solver_cannot_take_name_element_and_field(field, name) -> None:
    net = Network.from_pandapower(pp_case("case30"))
    a = getattr(net, field).astype(float).copy()
    a[1] = 1e300
    with pytest.raises(ValidationError, match=rf"\.{name}: must be within"):
        dataclasses.replace(net, **{field: a})


def test_islanded_buses_are_named() -> None:
    net = Network.from_pandapower(pp_case("case30"))
    # cut every branch touching the two buses at positions 28 and 29 (pandapower ids 28, 29) from the rest
    touch = np.isin(net.line_from, [28, 29]) ^ np.isin(net.line_to, [28, 29])
    keep = ~touch
    with pytest.raises(ValidationError, match=r"2 bus\(es\) not connected.*ids 28, 29"):
        dataclasses.replace(net, line_from=net.line_from[keep], line_to=net.line_to[keep],
                            line_x_pu=net.line_x_pu[keep], line_rate_mw=net.line_rate_mw[keep],
                            line_name=net.line_name[keep])  # fmt: skip

"""The network model, its converters and the refusals of bad networks (each naming the element)."""

from datetime import datetime

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gridflex.errors import NetworkError
from gridflex.grid.distribution import Profiles, cigre, from_matpower, from_pandapower, load_grid, save_grid
from gridflex.grid.distribution.gridfile import SHIPPED


def small_net():
    net = pp.create_empty_network(name="small")
    b0, b1, b2 = (pp.create_bus(net, vn_kv=20.0, name=f"B{i}") for i in range(3))
    pp.create_ext_grid(net, b0, vm_pu=1.02)
    pp.create_line_from_parameters(net, b0, b1, 1.0, 0.2, 0.1, 200.0, 0.3, name="L1")
    pp.create_line_from_parameters(net, b1, b2, 1.0, 0.2, 0.1, 200.0, 0.3, name="L2")
    pp.create_load(net, b2, p_mw=1.0, q_mvar=0.2, name="Load2")
    return net


def test_small_network_converts():
    net = from_pandapower(small_net())
    assert net.summary() == {
        "bus": 3,
        "line": 2,
        "trafo": 0,
        "load": 1,
        "sgen": 0,
        "storage": 0,
        "ext_grid": 1,
    }
    assert net.line.r_ohm.tolist() == [0.2, 0.2]


def test_cigre_mv_with_storage_converts():
    net = cigre("mv")
    assert len(net.storage) == 2 and len(net.trafo) == 2
    assert not net.line.to_closed.all()  # the open switches of the CIGRE feeders' rings are kept


def test_island_without_source_is_refused_naming_the_element():
    net = small_net()
    b3 = pp.create_bus(net, vn_kv=20.0, name="Lonely")
    pp.create_sgen(net, b3, p_mw=0.5, name="PV-island")
    with pytest.raises(NetworkError, match=r"sgen PV-island\.bus: bus Lonely is in an island"):
        from_pandapower(net)


def test_open_line_makes_an_island():
    net = small_net()
    pp.create_switch(net, 1, 1, et="l", closed=False)  # L2 open at B1: B2 and its load lose supply
    with pytest.raises(NetworkError, match=r"load Load2\.bus"):
        from_pandapower(net)


def test_missing_line_parameters_are_refused_naming_the_line():
    net = small_net()
    net.line.loc[1, "r_ohm_per_km"] = np.nan
    net.line.loc[0, "max_i_ka"] = np.nan
    with pytest.raises(NetworkError) as info:
        from_pandapower(net)
    text = str(info.value)
    assert "line L2.r_ohm" in text and "line L1.max_i_ka" in text


@pytest.mark.parametrize("kind", ["gen", "shunt", "ward"])
def test_unknown_element_types_are_refused_naming_them(kind):
    net = small_net()
    if kind == "gen":
        pp.create_gen(net, 2, p_mw=1.0, name="G1")
    elif kind == "shunt":
        pp.create_shunt(net, 2, q_mvar=0.1, name="G1")
    else:
        pp.create_ward(net, 2, 1.0, 0.1, 0.0, 0.0, name="G1")
    with pytest.raises(NetworkError, match=rf"{kind} G1\.type: element type '{kind}' is not supported"):
        from_pandapower(net)


def test_voltage_dependent_load_is_refused():
    net = small_net()
    net.load["const_z_p_percent"] = 50.0
    with pytest.raises(NetworkError, match=r"load Load2\.const_z_p_percent"):
        from_pandapower(net)


def test_closed_bus_bus_switches_fuse_buses():
    net = small_net()
    b3 = pp.create_bus(net, vn_kv=20.0, name="B3")
    pp.create_switch(net, 2, b3, et="b", closed=True)
    pp.create_load(net, b3, p_mw=0.1, name="Load3")
    conv = from_pandapower(net)
    assert len(conv.bus) == 3 and conv.load.bus.tolist() == [2, 2]


def test_matpower_transmission_case_is_refused_for_its_generators():
    with pytest.raises(NetworkError, match=r"gen .*element type 'gen'"):
        from_matpower("tests/grid/data/case5.m")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_grids_load_and_round_trip(name, tmp_path):
    case = load_grid(name)
    assert case.profiles.periods == 35_136 and case.profiles.step_min == 15
    assert "ODbL" in case.network.meta["attribution"]
    again = load_grid(save_grid(tmp_path / "g.npz", case.network, case.profiles))
    for kind, table in case.network.tables.items():
        for col, values in table.columns.items():
            assert np.array_equal(getattr(again.network.tables[kind], col), values), (kind, col)
    np.testing.assert_allclose(again.profiles.values, case.profiles.values, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 50), st.integers(1, 4)),
              elements=st.floats(-1e3, 1e3, allow_nan=False)))  # fmt: skip
def test_profile_quantisation_error_is_below_half_a_step(tmp_path_factory, values):
    case = load_grid("lv-rural1-storage")
    path = tmp_path_factory.mktemp("q") / "g.npz"
    prof = Profiles(datetime(2016, 1, 1), 15, [f"load_p:x{j}" for j in range(values.shape[1])], values)
    back = load_grid(save_grid(path, case.network, prof)).profiles.values
    span = values.max(axis=0) - values.min(axis=0)
    assert np.all(np.abs(back - values) <= span / 65535 / 2 + 1e-9 * (1 + np.abs(values)))


def test_simbench_conversion_equals_the_shipped_extract():
    pytest.importorskip("simbench")
    from gridflex.grid.distribution import from_simbench

    net, prof = from_simbench(SHIPPED["lv-rural1-storage"])
    shipped = load_grid("lv-rural1-storage")
    assert net.summary() == shipped.network.summary()
    np.testing.assert_allclose(net.line.r_ohm, shipped.network.line.r_ohm)
    j = prof.names.index("storage:Storage_PV8_L1-A")
    k = shipped.profiles.names.index("storage:Storage_PV8_L1-A")
    np.testing.assert_allclose(prof.values[:, j], shipped.profiles.values[:, k], atol=1e-4)


def test_cigre_lv_is_pandapower_cigre_lv():
    assert cigre("lv").summary()["load"] == len(pn.create_cigre_network_lv().load)

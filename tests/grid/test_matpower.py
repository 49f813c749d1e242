"""A MATPOWER text case (.m) goes through the same DC-OPF and agrees with pandapower's rundcopp."""

from pathlib import Path

import numpy as np
import pandapower as pp
import pytest
from pandapower.converter.matpower.from_mpc import from_mpc

from gridflex.grid import MultiPeriodDCOPF, Network

CASE5 = Path(__file__).parent / "data" / "case5.m"


def test_matpower_text_case_matches_pandapower_dc_opf():
    net = Network.from_matpower(CASE5)
    assert (net.n_buses, net.n_gens, net.n_loads) == (5, 5, 3)
    res = MultiPeriodDCOPF(net, 1, ramp=False).solve(net.load_mw[None, :])
    ref = from_mpc(str(CASE5), f_hz=50)
    pp.rundcopp(ref)
    assert res.cost_eur == pytest.approx(ref.res_cost, rel=1e-6)
    assert res.gen_mw.sum() == pytest.approx(net.load_mw.sum(), rel=1e-9)
    # The 240 MW branch 4–5 limits the cheapest unit: the case's known binding constraint.
    assert np.abs(res.flow_mw).max() <= 400 + 1e-6

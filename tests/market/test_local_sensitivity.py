"""Per-ISP sensitivities in network-aware clearing: a hand case where the flow reverses, the checks of
the blocks, a property, and an AC power flow of the cleared result on the shipped SimBench MV grid."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import MarketError
from gridflex.market.local import FlexNetwork, FlexOffer, FlexRequest, SensitivityBlock, clear_local
from gridflex.market.products import Product, ProductKind
from tests.market.helpers import DAY

LOCAL = Product(product_id="LF", kind=ProductKind.LOCAL_FLEX, isp_s=900, delivery_start=DAY, n_isps=96)


def _req(i, isp, mw, cp="F"):
    return FlexRequest(request_id=i, participant="DSO", product="LF", congestion_point=cp, isp=isp,
                       direction="up", power_mw=mw, max_price_eur_per_mwh=1000.0)  # fmt: skip


def _off(i, node, mw, price, isps, direction="up", **kw):
    return FlexOffer(offer_id=i, participant="agg", product="LF", node=node, direction=direction, isps=list(isps),
                     power_mw=mw, price_eur_per_mwh=price, **kw)  # fmt: skip


def _feeder(blocks):
    # one feeder F (limit 10 MW, 12 MW forecast in ISPs 10 and 11) fed from both ends: injection at
    # "a" relieves it by 0.8 per MW in ISP 10, but the operating point moved by ISP 11 and there it
    # relieves by 0.2 only; "b" relieves by 0.5 in both
    return FlexNetwork(nodes=["a", "b"], elements=["F"], sensitivity=[[-0.8, -0.5]], sensitivity_blocks=blocks,
                       base_flow_mw=[[12.0] * 96], limit_mw=[10.0])  # fmt: skip


def test_a_block_replaces_the_matrix_in_its_isps():
    offers = [_off("a10", "a", 2.5, 100, [10]), _off("a11", "a", 2.5, 100, [11]),
              _off("b10", "b", 4.0, 120, [10]), _off("b11", "b", 4.0, 120, [11])]  # fmt: skip
    reqs = [_req("r10", 10, 2.0), _req("r11", 11, 2.0)]
    one = clear_local(LOCAL, reqs, offers, network=_feeder([]))
    # one matrix: "a" relieves 0.8 × 2.5 = 2 MW in both ISPs, cheaper than "b" (0.5 × 4 = 2 MW)
    assert sorted(o.offer_id for o in one.orders) == ["a10", "a11"]
    per_isp = clear_local(
        LOCAL, reqs, offers, network=_feeder([SensitivityBlock(isps=[11], sensitivity=[[-0.2, -0.5]])])
    )
    # in ISP 11 "a" would relieve 0.5 MW only: the request there takes "b"
    assert sorted(o.offer_id for o in per_isp.orders) == ["a10", "b11"]
    assert per_isp.request_delivered_mw == {"r10": pytest.approx(2.0), "r11": pytest.approx(2.0)}
    assert per_isp.max_loading["F"] == pytest.approx(10.0 / 10.0)


def test_blocks_are_checked_and_named():
    bad = [SensitivityBlock(isps=[3, 200], sensitivity=[[0.0, 0.0]])]
    with pytest.raises(MarketError, match=r"sensitivity_blocks\.0\.isps.*outside 0\.\.95"):
        clear_local(LOCAL, [_req("r", 10, 1.0)], [], network=_feeder(bad))
    bad = [SensitivityBlock(isps=[3], sensitivity=[[0.0]])]
    with pytest.raises(MarketError, match=r"sensitivity_blocks\.0\.sensitivity.*expected \(1, 2\)"):
        clear_local(LOCAL, [_req("r", 10, 1.0)], [], network=_feeder(bad))
    twice = [
        SensitivityBlock(isps=[3, 4], sensitivity=[[0.0, 0.0]]),
        SensitivityBlock(isps=[4], sensitivity=[[1.0, 0.0]]),
    ]
    with pytest.raises(MarketError, match=r"sensitivity_blocks\.1\.isps.*ISP 4 has a sensitivity already"):
        clear_local(LOCAL, [_req("r", 10, 1.0)], [], network=_feeder(twice))
    nan = [SensitivityBlock(isps=[3], sensitivity=[[float("nan"), 0.0]])]
    with pytest.raises(MarketError, match=r"sensitivity_blocks\.0\.sensitivity.*not finite"):
        clear_local(LOCAL, [_req("r", 10, 1.0)], [], network=_feeder(nan))


matrix = st.lists(
    st.lists(st.floats(-1, 1).map(lambda v: round(v, 2)), min_size=3, max_size=3), min_size=2, max_size=2
)


@settings(max_examples=30, deadline=None)
@given(matrix, matrix, matrix,
       st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.integers(1, 6), st.integers(1, 200), st.booleans()),
                min_size=1, max_size=8))  # fmt: skip
def test_flows_recomputed_per_isp_stay_within_limits(default, s20, s21, offers_in):
    """Whatever the matrices of ISPs 20 and 21, the flows recomputed from the activations with each
    ISP's own matrix stay within max(limit, |forecast|), and the request is met or its shortfall said."""
    base = [[13.0] * 96, [8.0] * 96]
    net = FlexNetwork(nodes=["a", "b", "c"], elements=["E0", "E1"], sensitivity=default,
                      sensitivity_blocks=[SensitivityBlock(isps=[20], sensitivity=s20), SensitivityBlock(isps=[21], sensitivity=s21)],
                      base_flow_mw=base, limit_mw=[10.0, 10.0])  # fmt: skip
    offers = [_off(f"o{k}", "abc"[n], float(mw), float(p), (19, 20, 21), direction="up" if up else "down",
                   divisible=div, min_activation_factor=0.5)
              for k, (n, up, mw, p, div) in enumerate(offers_in)]  # fmt: skip
    reqs = [_req("r20", 20, 3.0, "E0"), _req("r21", 21, 3.0, "E0")]
    r = clear_local(LOCAL, reqs, offers, network=net)
    for t, s in ((19, default), (20, s20), (21, s21)):
        inj = np.zeros(3)
        for o in offers:
            inj["abc".index(o.node)] += (
                r.activation[o.offer_id] * o.power_mw * (1 if o.direction == "up" else -1)
            )
        flow = np.array([b[t] for b in base]) + np.array(s) @ inj
        assert (np.abs(flow) <= np.maximum(10.0, np.abs([b[t] for b in base])) + 1e-6).all()
        if t in (20, 21):
            relief = -(flow[0] - base[0][t])
            assert relief + r.request_unmet_mw[f"r{t}"] >= 3.0 - 1e-6


@pytest.fixture(scope="module")
def winter_evening():
    """The shipped SimBench MV grid (ODbL) on a stressed winter day: Line 1 overloaded in the evening."""
    from gridflex.grid.distribution import PowerFlow, load_grid, stress
    from gridflex.grid.distribution.relief import rating_mw
    from gridflex.grid.distribution.stress import WINTER

    case = load_grid("mv-semiurb")
    net = case.network
    series = stress(net, case.profiles.series(net, start=datetime(2016, 1, 27), periods=96), WINTER)
    pf = PowerFlow(net)
    return net, series, pf, pf.run(series, angles=True), rating_mw(net)


def test_power_flow_of_the_cleared_result_confirms_per_isp_sensitivities(winter_evening):
    """Per-ISP Jacobian sensitivities (grid.distribution) clear the evening overload; an AC power flow
    with the accepted curtailment finds every requested ISP within the rating and no new overload,
    and each branch flow the clearing predicted within 2 % of its rating of the power flow's."""
    from gridflex.grid.distribution.sensitivity import JacobianSystem, sensitivities

    net, series, pf, res, rating = winter_evening
    load = res.branch_loading_pct  # periods × branches (lines, then transformers)
    k = int(np.argmax(load.max(axis=0)))
    isps = np.flatnonzero(load[:, k] > 98.0)
    isps = np.arange(isps.min(), isps.max() + 1)
    assert load[isps, k].max() > 150.0 and len(isps) >= 20
    # the connection points that matter: Line 1's loading moves by > 30 % of a MW per MW there
    row = JacobianSystem(net, res).row("loading", k)[isps].mean(axis=0) / 100.0 * rating[k]
    bus_of = net.element_bus()
    cons = np.zeros((96, len(net.bus)))
    np.add.at(cons.T, bus_of, np.maximum(series.p_mw, 0.0).T)
    buses = np.flatnonzero((np.abs(row) > 0.3) & (cons[isps].min(axis=0) > 1e-3))
    sub = replace(res, voltage_pu=res.voltage_pu[isps], angle_rad=res.angle_rad[isps],
                  line_loading_pct=res.line_loading_pct[isps], trafo_loading_pct=res.trafo_loading_pct[isps])  # fmt: skip
    used = rating > 0
    # injection = −consumption; loading % → MW of the branch's rating
    s = -sensitivities(net, sub, buses).loading_pct_per_mw[:, used] / 100.0 * rating[None, used, None]
    flow = load[:, used].T / 100.0 * rating[used, None]
    limit = 0.98 * rating[used]  # 2 % of the rating left for the non-linearity
    names = [str(n) for n in net.branch_names()[used]]
    kk = int(np.cumsum(used)[k] - 1)
    network = FlexNetwork(nodes=[str(b) for b in buses], elements=names, sensitivity=s.mean(axis=0).tolist(),
                          sensitivity_blocks=[SensitivityBlock(isps=[int(t)], sensitivity=s[i].tolist()) for i, t in enumerate(isps)],
                          base_flow_mw=flow.tolist(), limit_mw=limit.tolist())  # fmt: skip
    rng = np.random.default_rng(0)
    offers = [_off(f"o{j}", str(b), [round(float(x), 6) for x in 0.9 * cons[isps, b]], float(rng.integers(50, 300)),
                   isps.tolist(), divisible=bool(j % 2), min_activation_factor=0.3 if j % 2 else 1.0)
              for j, b in enumerate(buses)]  # fmt: skip
    reqs = [
        _req(f"r{t}", int(t), float(flow[kk, t] - limit[kk]), names[kk])
        for t in isps
        if flow[kk, t] > limit[kk]
    ]
    r = clear_local(LOCAL, reqs, offers, network=network)
    assert r.orders and sum(r.request_unmet_mw.values()) == pytest.approx(0.0, abs=1e-6)
    # the accepted curtailment on the loads of each bus, in proportion to their consumption
    delta = np.zeros_like(series.p_mw)
    inj = np.zeros((len(isps), len(buses)))
    for j, (o, b) in enumerate(zip(offers, buses, strict=True)):
        inj[:, j] = r.activation[o.offer_id] * np.asarray(o.power_mw)
        el = np.flatnonzero((bus_of == b) & (series.p_mw[isps].min(axis=0) > 0))
        share = series.p_mw[np.ix_(isps, el)] / series.p_mw[np.ix_(isps, el)].sum(axis=1, keepdims=True)
        delta[np.ix_(isps, el)] -= inj[:, j : j + 1] * share
    after = pf.run(series.with_changes(delta)).branch_loading_pct
    assert after[isps, k].max() <= 100.0
    assert (after[isps][:, used] <= np.maximum(100.0, load[isps][:, used]) + 1e-6).all()
    predicted = flow[:, isps] + np.einsum("ten,tn->et", s, inj)
    actual = after[isps][:, used].T / 100.0 * rating[used, None]
    assert (np.abs(predicted - actual) <= 0.02 * rating[used, None]).all()

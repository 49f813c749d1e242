"""Scenario generation: reproducible, with the requested mean, spread and correlations."""

import numpy as np
import pytest

from gridflex.grid.scenarios import ScenarioSeed, generate_scenarios
from gridflex.grid.study import study_from_dict

SHAPE = [0.6 + 0.4 * np.sin(np.pi * t / 23) for t in range(24)]


def _study(**load):
    noise = load.pop("noise", {})
    doc = {
        "network": {"case": "case9"},
        "load": {"shape": SHAPE, "growth": load.pop("growth", 1.0), "noise": noise},
        "renewables": load.pop("renewables", []),
    }
    return study_from_dict(doc)


NOMINAL = np.array([100.0, 50.0, 200.0, 80.0])


def test_reproducible_and_seed_dependent():
    st = _study(noise={"sigma_pu": 0.05, "correlation": 0.3})
    a = generate_scenarios(st, NOMINAL, 20, seed=7)
    b = generate_scenarios(st, NOMINAL, 20, seed=7)
    c = generate_scenarios(st, NOMINAL, 20, seed=8)
    np.testing.assert_array_equal(a.load_mw, b.load_mw)
    assert not np.allclose(a.load_mw, c.load_mw)
    assert a.load_mw.shape == (20, 24, 4)
    np.testing.assert_array_equal(a.take(slice(5, 10)).load_mw, a.load_mw[5:10])


def test_a_chunk_drawn_on_its_own_is_the_same_scenarios_bit_for_bit():
    # workers draw their chunk from the seed and its first scenario: the same bits as one big draw
    ren = [{"id": "w", "bus": 1, "kind": "wind", "capacity_mw": 50, "profile_pu": [0.5],
            "error_autocorrelation": 0.7}]  # fmt: skip
    st = _study(noise={"sigma_pu": 0.05, "correlation": 0.4, "autocorrelation": 0.6}, renewables=ren)
    rate = np.array([0.3, 0.0, 0.5])
    whole = generate_scenarios(st, NOMINAL, 23, seed=11, outage_rate=rate)
    for a, b in [(0, 7), (7, 8), (8, 23), (20, 23)]:
        part = ScenarioSeed(11, 23).take(slice(a, b)).draw(st, NOMINAL, rate)
        np.testing.assert_array_equal(part.load_mw, whole.load_mw[a:b])
        np.testing.assert_array_equal(part.renewable_mw, whole.renewable_mw[a:b])
        np.testing.assert_array_equal(part.online, whole.online[a:b])


def test_expected_load_is_shape_times_nominal_times_growth():
    st = _study(growth=1.2)
    sc = generate_scenarios(st, NOMINAL, 3, seed=0)
    np.testing.assert_allclose(sc.expected_load_mw, 1.2 * np.outer(SHAPE, NOMINAL))
    np.testing.assert_allclose(sc.load_mw[0], sc.expected_load_mw)  # no noise


def test_mean_sigma_and_node_correlation():
    st = _study(noise={"mu_pu": 0.02, "sigma_pu": 0.05, "correlation": 0.6})
    sc = generate_scenarios(st, NOMINAL, 4000, seed=1)
    rel = sc.load_mw / sc.expected_load_mw[None] - 1.0  # (S, T, N) relative fluctuation
    assert rel.mean() == pytest.approx(0.02, abs=0.002)
    assert rel.std() == pytest.approx(0.05, rel=0.03)
    flat = rel.reshape(-1, 4)
    corr = np.corrcoef(flat.T)
    off = corr[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off - 0.6) < 0.03), corr


def test_time_autocorrelation():
    st = _study(noise={"sigma_pu": 0.05, "autocorrelation": 0.8})
    sc = generate_scenarios(st, NOMINAL, 3000, seed=2)
    rel = sc.load_mw / sc.expected_load_mw[None] - 1.0
    lag1 = np.corrcoef(rel[:, :-1, 0].ravel(), rel[:, 1:, 0].ravel())[0, 1]
    assert lag1 == pytest.approx(0.8, abs=0.03)
    assert rel[:, 23].std() == pytest.approx(0.05, rel=0.06)  # stationary variance


def test_renewables_forecast_error_clipped_to_capacity():
    ren = [
        {"id": "w", "bus": 4, "kind": "wind", "capacity_mw": 100, "profile_pu": [0.5], "error_sigma_pu": 0.1},
        {
            "id": "pv",
            "bus": 5,
            "kind": "pv",
            "capacity_mw": 50,
            "profile_pu": [0.0] * 6 + [0.95] * 12 + [0.0] * 6,
            "error_sigma_pu": 0.2,
        },
    ]
    st = _study(renewables=ren)
    sc = generate_scenarios(st, NOMINAL, 3000, seed=3)
    w = sc.renewable_mw[:, :, 0]
    assert w.mean() == pytest.approx(50.0, abs=0.3)
    assert w.std() == pytest.approx(10.0, rel=0.05)
    pv = sc.renewable_mw[:, :, 1]
    assert pv.min() >= 0.0 and pv.max() <= 50.0
    assert (pv[:, 10] == 50.0).mean() > 0.3  # forecast 47.5 ± 10 is often clipped at capacity
    np.testing.assert_allclose(sc.expected_renewable_mw[:, 0], 50.0)

"""Available flexible capacity (paper eqs. 18-37) on hand-computed examples."""

from statistics import NormalDist

import numpy as np
import pytest

from gridflex.grid.capacity import combine, generation_capacity, load_capacity, storage_capacity


def test_generation_capacity_by_hand():
    # two units, two periods; unit 0 ramps 30 MW/h, unit 1 never ramp-limited
    gen = np.array([[50.0, 10.0], [90.0, 20.0]])
    total, avail = generation_capacity(gen, [20.0, 0.0], [100.0, 40.0], [30.0, np.inf], dt_h=1.0)
    # t0: up = (100-50) + (40-10) = 80, avail = min(30,50) + min(inf,30) = 60
    #     down = (50-20) + (10-0) = 40, avail = min(30,30) + 10 = 40
    # t1: up = 10 + 20 = 30, avail = 10 + 20 = 30; down = 70 + 20 = 90, avail = 30 + 20 = 50
    np.testing.assert_allclose(total.up_mw, [80, 30])
    np.testing.assert_allclose(total.down_mw, [40, 90])
    np.testing.assert_allclose(avail.up_mw, [60, 30])
    np.testing.assert_allclose(avail.down_mw, [40, 50])


def test_generation_ramp_scales_with_period_length():
    _, avail = generation_capacity(np.array([[50.0]]), [0.0], [100.0], [30.0], dt_h=0.25)
    np.testing.assert_allclose(avail.up_mw, [7.5])


def test_load_capacity_paper_rule_by_hand():
    # node A: two categories (q=0.5, δ=0.1, nom 100) and (q=0.4, δ=0.2, nom 50); node B: (q=0.8, δ=0.05, nom 20)
    # μ_A = 50 + 20 = 70, σ_A² = 10² + 10² = 200; μ_B = 16, σ_B = 1
    q, d = np.array([0.5, 0.4, 0.8]), np.array([0.1, 0.2, 0.05])
    nom = np.array([[100.0, 50.0, 20.0]])
    total, avail = load_capacity(q, d, nom, np.array([7, 7, 9]), alpha=0.05)
    w = NormalDist().inv_cdf(0.975)  # 1.95996...
    assert w == pytest.approx(1.959964, abs=1e-6)
    np.testing.assert_allclose(total.up_mw, [170.0])
    np.testing.assert_allclose(avail.up_mw, [70 + w * np.sqrt(200) + 16 + w * 1.0])
    np.testing.assert_allclose(avail.down_mw, [70 - w * np.sqrt(200) + 16 - w * 1.0])


def test_load_capacity_conservative_rule_and_clipping():
    # μ = 10, σ = 20: the lower quantile is negative -> clipped to 0; upper end clipped to the nominal 100
    _, avail = load_capacity(np.array([0.1]), np.array([0.2]), np.array([[100.0]]), np.array([0]), 0.05)
    assert avail.down_mw[0] == 0.0
    assert avail.up_mw[0] == pytest.approx(10 + 1.959964 * 20, abs=1e-4)
    _, cons = load_capacity(
        np.array([0.5]), np.array([0.1]), np.array([[100.0]]), np.array([0]), 0.05, "conservative"
    )
    z = NormalDist().inv_cdf(0.95)
    assert cons.up_mw[0] == pytest.approx(50 - z * 10) and cons.down_mw[0] == pytest.approx(50 - z * 10)


def test_storage_capacity_by_hand():
    # 100 MW / 400 MWh, soc 10 %..90 %, η = 0.9 both, start at 50 % (200 MWh)
    # t0 idle -> end 200; t1 charging 50 MW -> end 200 + 45 = 245; t2 discharging 100 MW -> end 245 - 100/0.9
    e_end = np.array([[200.0], [245.0], [245.0 - 100 / 0.9]])
    c = np.array([[0.0], [50.0], [0.0]])
    dch = np.array([[0.0], [0.0], [100.0]])
    args = ([100.0], [400.0], [0.9], [0.9], [0.1], [0.9], [0.5])
    total, avail = storage_capacity(c, dch, e_end, *args, dt_h=1.0)
    # t0: start 200: deepest discharge min(100, (200-40)·0.9=144) = 100, up = 100
    #     deepest charge min(100, (360-200)/0.9=177.8) = 100, down = 100
    # t1: start 200, net = -50: up = 100 + 50 = 150, down = 100 - 50 = 50
    # t2: start 245, net = +100: up = max(100 - 100, 0) = 0, down = 100 + 100 = 200
    # totals from the operating point: full swing to +100 (up) / -100 (down)
    np.testing.assert_allclose(total.up_mw, [100, 150, 0])
    np.testing.assert_allclose(total.down_mw, [100, 50, 200])
    np.testing.assert_allclose(avail.up_mw, [100, 150, 0])
    np.testing.assert_allclose(avail.down_mw, [100, 50, 200])


def test_storage_soc_limits_bind():
    # nearly empty: start 50 MWh, min 40 -> (50-40)·0.9 = 9 MW up; nearly full: 355 of max 360 -> 5/0.9 down
    args = ([100.0], [400.0], [0.9], [0.9], [0.1], [0.9])
    _, a = storage_capacity(np.zeros((1, 1)), np.zeros((1, 1)), np.array([[50.0]]), *args, [0.125], dt_h=1.0)
    assert a.up_mw[0] == pytest.approx(9.0)
    _, b = storage_capacity(
        np.zeros((1, 1)), np.zeros((1, 1)), np.array([[355.0]]), *args, [355 / 400], dt_h=1.0
    )
    assert b.down_mw[0] == pytest.approx(5 / 0.9)


def test_combine_sums_sources_and_table_columns():
    g = generation_capacity(np.array([[50.0]]), [0.0], [100.0], [10.0], 1.0)
    ld = load_capacity(np.array([0.5]), np.array([0.0]), np.array([[20.0]]), np.array([0]), 0.05)
    st = storage_capacity(
        np.zeros((1, 1)),
        np.zeros((1, 1)),
        np.array([[50.0]]),
        [5.0],
        [100.0],
        [1.0],
        [1.0],
        [0.0],
        [1.0],
        [0.5],
        1.0,
    )
    cap = combine(np.array([300.0]), {"generation": g, "load": ld, "storage": st})
    assert cap.available["system"].up_mw[0] == pytest.approx(10 + 10 + 5)
    assert cap.total["system"].up_mw[0] == pytest.approx(50 + 20 + 5)
    df = cap.to_frame()
    assert list(df.columns) == ["period", "source", "kind", "up_mw", "down_mw", "load_mw"]
    assert len(df) == 2 * 4

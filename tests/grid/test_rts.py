"""RTS data: RTS-24 unit types and ramp rates, the published hourly load shape."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import gridflex.grid as grid
from gridflex.errors import ValidationError
from gridflex.grid import (
    RTS96_RAMP_MW_PER_MIN,
    rts24_load_mw,
    rts24_network,
    rts_hourly_load_pu,
    rts_load_shape,
    rts_peak_day_load_pu,
)


def test_public_names_exist() -> None:
    for name in grid.__all__:
        assert hasattr(grid, name), name


def test_rts24_unit_types_and_ramps() -> None:
    net = rts24_network()
    counts = Counter(net.gen_type.tolist())
    assert counts == {
        "U12": 5,
        "U20": 4,
        "U50 hydro": 6,
        "U76": 4,
        "U100": 3,
        "U155": 4,
        "U197": 3,
        "U350": 1,
        "U400": 2,
        "sync cond": 1,
    }  # RTS-96 Table 2: 32 units + the synchronous condenser
    assert np.all(np.isfinite(net.gen_ramp_mw_per_h))
    expected = np.array([RTS96_RAMP_MW_PER_MIN[t] * 60 for t in net.gen_type])
    np.testing.assert_array_equal(net.gen_ramp_mw_per_h, expected)
    u400 = net.gen_type == "U400"
    assert np.all(net.gen_ramp_mw_per_h[u400] == 1200.0)
    assert net.gen_pmax_mw[net.gen_type != "sync cond"].sum() == 3405.0
    assert rts24_network() is net  # cached, immutable


def test_load_shape_published_values() -> None:
    shape = rts_hourly_load_pu()
    assert shape.shape == (8736,) and shape.max() == 1.0 and np.all(shape > 0) and np.all(shape <= 1.0)
    weekly_peak = shape.reshape(52, 168).max(axis=1)
    # RTS Table 4 (weekly peak, % of annual peak): weeks 1, 2, 13, 51, 52
    np.testing.assert_allclose(weekly_peak[[0, 1, 12, 50, 51]], [0.862, 0.90, 0.704, 1.0, 0.952])
    # Table 5: daily peaks of the peak week, Monday..Sunday
    daily = rts_load_shape([51]).reshape(7, 24).max(axis=1)
    np.testing.assert_allclose(daily, [0.93, 1.00, 0.98, 0.96, 0.94, 0.77, 0.75])
    # Table 6: winter weekday hourly profile on the peak day (peak at 17-19 h)
    peak = rts_peak_day_load_pu()
    assert peak.shape == (24,) and peak.max() == 1.0 and peak[0] == pytest.approx(0.67) and peak[17] == 1.0
    np.testing.assert_array_equal(rts_hourly_load_pu(352), peak)
    assert rts_load_shape([1, 51]).shape == (336,)


def test_load_shape_argument_errors() -> None:
    with pytest.raises(ValidationError, match="day_of_year"):
        rts_hourly_load_pu(365)
    with pytest.raises(ValidationError, match="weeks"):
        rts_load_shape([0])


def test_rts24_load_mw_scales_case_loads() -> None:
    net = rts24_network()
    load = rts24_load_mw(rts_peak_day_load_pu(), net)
    assert load.shape == (24, net.n_loads)
    assert load.sum(axis=1).max() == pytest.approx(2850.0)
    np.testing.assert_allclose(load[5] / load[5].sum(), net.load_mw / net.load_mw.sum())

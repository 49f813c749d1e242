"""Dense series: min-max downsampling keeps every extreme; the endpoint serves real SimBench kW."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gridflex.api import create_app
from gridflex.api.routers.series import grid_series, minmax_downsample
from gridflex.grid.distribution.gridfile import load_grid
from gridflex.store import Principal, Store

values = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 400), m=st.integers(1, 3), buckets=st.integers(1, 60))
def test_minmax_keeps_every_bucket_extreme_in_time_order(data, n: int, m: int, buckets: int):
    y = data.draw(arrays(np.float64, (n, m), elements=values))
    t = np.cumsum(data.draw(arrays(np.int64, n, elements=st.integers(1, 900)))) + 1_451_606_400
    tt, yy = minmax_downsample(t, y, buckets)
    assert len(tt) == len(yy) <= max(2 * buckets, n if n <= 2 * buckets else 0)
    assert np.all(np.diff(tt) > 0)  # times strictly increase
    assert set(tt) <= set(t)  # every time is a sample time
    # the envelope survives: each series' global min and max are among the points
    np.testing.assert_array_equal(yy.min(axis=0), y.min(axis=0))
    np.testing.assert_array_equal(yy.max(axis=0), y.max(axis=0))
    if n <= 2 * buckets:
        np.testing.assert_array_equal(yy, y)


def test_minmax_by_hand():
    t = np.arange(8)
    y = np.array([[3.0], [1], [4], [1], [5], [9], [2], [6]])
    tt, yy = minmax_downsample(t, y, 2)  # buckets [3 1 4 1] and [5 9 2 6]
    assert tt.tolist() == [0, 2, 4, 6]
    assert yy[:, 0].tolist() == [1, 4, 9, 2]  # min before max in the first, max before min in the second


@pytest.fixture
def client(tmp_path) -> TestClient:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    store.upgrade()
    with store.repos(Principal.system()) as r:
        org = r.accounts.create_org("alice", ["prosumer"])
        secret = r.accounts.create_token(org.id, "t").secret
    c = TestClient(create_app(store), raise_server_exceptions=False)
    c.headers["Authorization"] = f"Bearer {secret}"
    return c


def test_the_year_of_a_shipped_grid_in_kw(client: TestClient):
    info = client.get("/v1/series/grids/lv-rural1-storage").json()
    assert info["start"] == "2016-01-01T00:00:00Z" and info["end"] == "2017-01-01T00:00:00Z"
    assert info["step_s"] == 900 and info["unit"] == "kW" and len(info["names"]) >= 10
    r = client.get("/v1/series/grids/lv-rural1-storage/values", params={"points": 20_00})
    body = r.json()
    assert body["n_samples"] == 35_136 and body["method"] == "min-max" and len(body["t_s"]) <= 2000
    assert len(body["values_kw"]) == 10
    # by hand: the first sample of "load H0-A" is its profile factor times the loads' nominal power
    case = load_grid("lv-rural1-storage")
    loads = case.network.load
    p_kw = loads.p_mw[loads.profile == "H0-A"].sum() * 1000
    factor = case.profiles.values[0, case.profiles.names.index("load_p:H0-A")]
    raw = client.get(
        "/v1/series/grids/lv-rural1-storage/values",
        params={"names": ["load H0-A"], "start": "2016-01-01T00:00:00Z", "end": "2016-01-01T01:00:00Z"},
    ).json()
    assert raw["method"] == "raw" and raw["n_samples"] == 5  # both ends included
    assert raw["values_kw"][0][0] == pytest.approx(factor * p_kw, abs=1e-3)
    # production is negative (house sign)
    pv = [n for n in grid_series("lv-rural1-storage").names if n.startswith("sgen")]
    assert pv
    one = client.get("/v1/series/grids/lv-rural1-storage/values", params={"names": pv[:1]}).json()
    assert max(one["values_kw"][0]) <= 0 < -min(one["values_kw"][0])


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/v1/series/grids/nowhere/values", {}, ["body", "network"]),
        ("/v1/series/grids/lv-rural1-storage/values", {"names": ["load X"]}, ["body", "names"]),
        ("/v1/series/grids/lv-rural1-storage/values", {"points": 1}, ["query", "points"]),
        ("/v1/series/grids/lv-rural1-storage/values", {"points": 10**6}, ["query", "points"]),
        ("/v1/series/grids/lv-rural1-storage/values", {"start": "2016-01-01"}, ["query", "start"]),
        ("/v1/series/grids/lv-rural1-storage/values", {"start": "2020-01-01T00:00:00Z"}, ["body", "end"]),
    ],
)
def test_bad_series_queries_answer_422_naming_the_field(
    client: TestClient, path: str, params: dict, loc: list
):
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert loc in [d["loc"] for d in r.json()["detail"]], r.json()


def test_series_need_a_token(client: TestClient):
    del client.headers["Authorization"]
    assert client.get("/v1/series/grids/lv-rural1-storage").status_code == 401

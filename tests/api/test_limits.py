"""Per-token rate limits: 429 with Retry-After past the budget, per token; the bucket never admits
more than burst + rate × elapsed (property)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from gridflex.api import create_app
from gridflex.api.limits import RateLimitedError, TokenBuckets
from gridflex.store import Store
from tests.store.world import build_world


def test_a_token_over_its_budget_gets_429_with_retry_after(store: Store):
    w = build_world(store)
    t = [0.0]
    app = create_app(store, rate_limit=TokenBuckets(rate_per_s=0.5, burst=3, clock=lambda: t[0]))
    alice, bob = ({"Authorization": f"Bearer {w.secrets[k]}"} for k in ("alice", "bob"))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert [c.get("/v1/me", headers=alice).status_code for _ in range(3)] == [200] * 3
        r = c.get("/v1/orders", headers=alice)
        assert r.status_code == 429 and r.headers["retry-after"] == "2"  # 1 request at 0.5/s
        assert "rate limit of this token" in r.json()["detail"]
        assert c.get("/v1/me", headers=bob).status_code == 200  # per token, not per server
        assert c.get("/health").status_code == 200  # public routes have no token to count
        t[0] = 2.0
        assert c.get("/v1/me", headers=alice).status_code == 200
        assert c.get("/v1/me", headers=alice).status_code == 429


@given(
    gaps=st.lists(st.floats(0, 3, allow_nan=False), min_size=1, max_size=60),
    rate=st.floats(0.1, 20),
    burst=st.integers(1, 10),
)
def test_a_bucket_admits_no_more_than_burst_plus_rate_times_elapsed(
    gaps: list[float], rate: float, burst: int
):
    t = [0.0]
    buckets = TokenBuckets(rate, burst, clock=lambda: t[0])
    admitted: list[float] = []
    for g in gaps:
        t[0] += g
        try:
            buckets.take(1)
            admitted.append(t[0])
        except RateLimitedError as exc:
            assert exc.retry_after_s >= 1
    for i, start in enumerate(admitted):  # every window [start, end] of admitted requests
        for j in range(i, len(admitted)):
            assert j - i + 1 <= burst + rate * (admitted[j] - start) + 1e-9


def test_a_bucket_refuses_a_zero_rate():
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBuckets(0, 1)

"""A cold CEM plan compiles the site once, with every device a legal member of the Asset union."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import TypeAdapter

from gridflex.assets import Asset
from gridflex.assets.fill_rate import FillRateFleetAsset
from gridflex.assets.power_envelope import PowerEnvelope, PowerEnvelopeDevice
from gridflex.s2.planner import PlanRequest, WarmModel, plan_site
from gridflex.scheduling import parse_site
from gridflex.scheduling import site as site_mod
from tests.s2.fleet import battery_fleet

N = 16
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _request(start: datetime, warm: WarmModel) -> PlanRequest:
    pv = PowerEnvelopeDevice("s2-pv", uuid.uuid4(), np.full(N, 3.0))
    return PlanRequest(start, 900, N, frbc=battery_fleet(3, N), pebc=[pv], warm=warm,
                       loads_kw={"s2-fridge": np.full(N, 0.2)})  # fmt: skip


def test_a_cold_plan_compiles_the_site_once(monkeypatch: pytest.MonkeyPatch) -> None:
    base = parse_site({"name": "home", "time": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_periods": 96},
                       "prices": {"day_ahead_eur_per_mwh": [40.0 + k % 7 for k in range(96)]},
                       "assets": [{"kind": "load", "name": "house", "profile_kw": 1.0}]})  # fmt: skip
    calls: list[str] = []
    real = site_mod._compile

    def counting(site):  # type: ignore[no-untyped-def]
        calls.append(site.name)
        return real(site)

    monkeypatch.setattr(site_mod, "_compile", counting)
    warm = WarmModel()
    first = plan_site(base, _request(T0, warm))
    assert len(calls) == 2 and not first.warm  # the base site (once per CEM) and the site with its devices
    calls.clear()
    again = plan_site(base, _request(T0 + timedelta(minutes=15), warm))  # a new period: a cold build
    assert len(calls) == 1 and not again.warm and warm.cold_builds == 2
    # every device is an asset of the union, validated with the site (not slipped in by model_copy)
    assert warm.sm is not None
    assets = warm.sm.compiled.site.assets
    adapter = TypeAdapter(Asset)
    assert all(adapter.validate_python(a) is a for a in assets)
    kinds = {type(a) for a in assets}
    assert FillRateFleetAsset in kinds and PowerEnvelope in kinds
    assert {"s2-grid", "s2-fridge/load", "s2-pv/pv"} <= {a.name for a in assets}

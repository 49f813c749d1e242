"""Orders and products: screening rejects bad orders one by one with a reason; schemas are committed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from gridflex.market.io import schemas
from gridflex.market.orders import Order, OrderArrays, screen_orders
from gridflex.market.products import Product, ProductKind
from tests.market.helpers import DAY, da_product

ROOT = Path(__file__).resolve().parents[2]
BEFORE_GATE = datetime(2018, 6, 11, 11, tzinfo=UTC)


def _order(i: str, **kw) -> Order:
    fields = dict(order_id=i, participant="A", product="DA", side="buy", isp=3, quantity_mw=5.0,
                  price_eur_per_mwh=40.0, submitted_at=BEFORE_GATE)  # fmt: skip
    fields.update(kw)
    return Order(**fields)


def test_each_bad_order_gets_its_own_reason():
    orders = [
        _order("ok"),
        _order("neg", quantity_mw=-3.0),
        _order("unknown", product="ID-X"),
        _order("late", submitted_at=datetime(2018, 6, 11, 12, 0, 1, tzinfo=UTC)),
        _order("horizon", isp=24),
        _order("pricey", price_eur_per_mwh=4000.5),
        _order("ok", isp=2),  # duplicate id
        _order("market", price_eur_per_mwh=None),
    ]
    ok, reason = screen_orders(OrderArrays.from_orders(orders), [da_product()])
    assert ok.tolist() == [True] + [False] * 7
    assert reason[0] == ""
    assert reason[1] == "quantity_mw must be > 0, got -3"
    assert reason[2] == "unknown product 'ID-X'"
    assert reason[3].startswith("submitted after gate closure (2018-06-11T12:00:00Z")
    assert reason[4] == "ISP 24 is outside the horizon of 'DA' (0..23)"
    assert reason[5] == "price 4000.5 EUR/MWh outside the limits [-500, 4000]"
    assert reason[6] == "duplicate order_id"
    assert "required" in reason[7]


def test_gate_uses_clearing_time_when_an_order_has_none():
    arr = OrderArrays.from_orders([_order("a", submitted_at=None)])
    gate = int(datetime(2018, 6, 11, 12, tzinfo=UTC).timestamp())
    assert screen_orders(arr, [da_product()], now_s=gate)[0].tolist() == [True]
    assert screen_orders(arr, [da_product()], now_s=gate + 1)[0].tolist() == [False]


def test_lead_time_gate_per_isp_for_continuous_products():
    prod = Product(product_id="DA", kind=ProductKind.ENERGY_CONTINUOUS, isp_s=900, delivery_start=DAY,
                   n_isps=96, lead_time_s=300)  # fmt: skip
    t = datetime(2018, 6, 12, 0, 10, tzinfo=UTC)  # 5 min before ISP 1 ends its gate at 00:10
    arr = OrderArrays.from_orders([_order("a", isp=1, submitted_at=t), _order("b", isp=2, submitted_at=t)])
    ok, _ = screen_orders(arr, [prod], market_orders=True)
    assert ok.tolist() == [True, True]
    late = datetime(2018, 6, 12, 0, 10, 1, tzinfo=UTC)
    arr = OrderArrays.from_orders([_order("a", isp=1, submitted_at=late)])
    assert not screen_orders(arr, [prod])[0][0]


def test_product_rules():
    with pytest.raises(ValidationError):
        da_product(isp_s=1800)
    with pytest.raises(ValidationError):
        da_product(price_min_eur_per_mwh=10, price_max_eur_per_mwh=5)
    p = da_product(isp_s=900, n_isps=96)
    assert p.isp_h == 0.25
    assert p.isp_starts_s()[1] - p.isp_starts_s()[0] == 900


def test_committed_schemas_equal_the_generated_ones():
    folder = ROOT / "docs" / "schemas" / "market"
    generated = schemas()
    committed = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in folder.glob("*.json")
    }
    assert committed == generated, (
        "run: python -c \"from gridflex.market.io import write_schemas; write_schemas('docs/schemas/market')\""
    )


def test_schema_validates_an_example_order():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(_order("a").model_dump(mode="json"), schemas()["order"])
    bad = {"order_id": "a"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schemas()["order"])


def test_arrays_round_trip_keys():
    arr = OrderArrays.from_orders([_order("a", place="FR"), _order("b", side="sell", isp=0)])
    assert arr.place.tolist() == ["FR", ""]
    assert arr.is_buy.tolist() == [True, False]
    assert np.isfinite(arr.price_eur_per_mwh).all()

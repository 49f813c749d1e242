"""A small market for the tests: an operator, two DSOs with one congestion point each, two traders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gridflex.market import Product, ProductKind
from gridflex.store import Principal, Store, authenticate
from gridflex.store.tenancy import Principal as _P

GATE = datetime(2026, 6, 1, 12, tzinfo=UTC)
BEFORE_GATE = GATE - timedelta(hours=2)
AFTER_GATE = GATE + timedelta(minutes=1)
PRODUCT = Product(
    product_id="DA-2026-06-02",
    kind=ProductKind.ENERGY_AUCTION,
    delivery_start=GATE + timedelta(hours=12),
    n_isps=24,
    gate_closure=GATE,
    price_min_eur_per_mwh=-500,
    price_max_eur_per_mwh=4000,
)


@dataclass
class World:
    principals: dict[str, Principal] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    org_ids: dict[str, int] = field(default_factory=dict)


ORGS = {
    "admin": ["admin"],
    "operator": ["market_operator"],
    "dso1": ["dso"],
    "dso2": ["dso"],
    "alice": ["prosumer"],
    "bob": ["aggregator", "brp"],
}


def build_world(store: Store) -> World:
    w = World()
    with store.repos(_P.system()) as r:
        for name, roles in ORGS.items():
            org = r.accounts.create_org(name, roles)
            w.org_ids[name] = org.id
            w.secrets[name] = r.accounts.create_token(org.id, f"{name}-token").secret
        for dso, cp in (("dso1", "CP-A"), ("dso2", "CP-B")):
            area = r.places.create_grid_area(f"area-{dso}", w.org_ids[dso])
            r.places.create_congestion_point(area.id, cp)
    with store.transaction() as s:
        for name, secret in w.secrets.items():
            w.principals[name] = authenticate(s, secret)
    with store.repos(w.principals["operator"]) as r:
        r.products.create(PRODUCT)
    return w


def order(side: str, isp: int, q: float, p: float | None, place: str = "", **kw: object) -> dict:
    return {"product": PRODUCT.product_id, "side": side, "isp": isp, "quantity_mw": q,
            "price_eur_per_mwh": p, "place": place, **kw}  # fmt: skip

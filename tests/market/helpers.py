"""Small builders shared by the market tests."""

from __future__ import annotations

from datetime import UTC, datetime

from gridflex.market.products import Product, ProductKind

DAY = datetime(2018, 6, 12, tzinfo=UTC)


def da_product(n_isps: int = 24, **kw) -> Product:
    fields = dict(
        product_id="DA",
        kind=ProductKind.ENERGY_AUCTION,
        isp_s=3600,
        delivery_start=DAY,
        n_isps=n_isps,
        gate_closure=datetime(2018, 6, 11, 12, tzinfo=UTC),
    )
    fields.update(kw)
    return Product(**fields)

"""Products (the market engine's :class:`gridflex.market.Product`): created by the market operator."""

from __future__ import annotations

from fastapi import APIRouter, status

from gridflex.api.deps import Using
from gridflex.market import Product
from gridflex.store.market import product_of

router = APIRouter(prefix="/v1/products", tags=["products"])


@router.get("", response_model=list[Product])
def list_products(r: Using) -> list[Product]:
    return [product_of(row) for row in r.products.list()]


@router.post("", response_model=Product, status_code=status.HTTP_201_CREATED)
def create_product(body: Product, r: Using) -> Product:
    """A product with a gate closure is cleared automatically then (its clearing job, ``/v1/jobs``)."""
    row = r.products.create(body)
    if body.gate_closure is not None:
        r.jobs.enqueue_clearing(row.product_id)
    return product_of(row)


@router.get("/{product_id}", response_model=Product)
def get_product(product_id: str, r: Using) -> Product:
    return product_of(r.products.get(product_id))

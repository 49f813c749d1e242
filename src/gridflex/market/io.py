"""JSON documents of the market commands, parsed once into the models, and their JSON Schemas.

Each ``gridflex market <command>`` reads one document; its pydantic model is the single source of
truth and :func:`write_schemas` writes the JSON Schemas under ``docs/schemas/market/`` (a test keeps
the committed files equal to the generated ones).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from gridflex.errors import DataError
from gridflex.market.baselines.files import BaselineDocument
from gridflex.market.capacity import CapacityBid, CapacityTender
from gridflex.market.local import FlexNetwork, FlexOffer, FlexRequest
from gridflex.market.orders import BlockOrder, Order, OrderResult
from gridflex.market.products import Product
from gridflex.market.settlement import SettlementDocument

__all__ = [
    "AuctionDocument",
    "BookDocument",
    "BookEvent",
    "CapacityDocument",
    "LocalDocument",
    "read_document",
    "schemas",
    "write_schemas",
]

M = TypeVar("M", bound=BaseModel)


class AuctionDocument(BaseModel):
    """``gridflex market clear``: products, orders and block orders of one auction."""

    model_config = ConfigDict(extra="forbid")

    products: list[Product]
    orders: list[Order] = Field(default_factory=list)
    block_orders: list[BlockOrder] = Field(default_factory=list)
    cleared_at: AwareDatetime | None = Field(
        None, description="Clearing time: submission time of orders without one, for the gate check."
    )


class BookEvent(BaseModel):
    """One step of a continuous session: submit an order, cancel one, or close the gates at a time."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["submit", "cancel", "close_gates"]
    order: Order | None = Field(None, description="For submit.")
    order_id: str | None = Field(None, description="For cancel.")
    at: AwareDatetime | None = Field(None, description="Event time (submit default, close_gates time).")


class BookDocument(BaseModel):
    """``gridflex market book``: continuous products and a sequence of events, replayed in order."""

    model_config = ConfigDict(extra="forbid")

    products: list[Product]
    events: list[BookEvent]


class LocalDocument(BaseModel):
    """``gridflex market local``: one DSO request round (requests, offers, optional network)."""

    model_config = ConfigDict(extra="forbid")

    product: Product
    requests: list[FlexRequest]
    offers: list[FlexOffer]
    network: FlexNetwork | None = None
    balanced: bool = Field(False, description="GOPACS-style: up = down per ISP.")
    balance_tolerance_mw: float = 0.0
    cleared_at: AwareDatetime | None = None
    time_limit_s: float = 10.0
    mip_rel_gap: float = 1e-3


class ActivationCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    duration_h: float = Field(gt=0)
    power_mw: float = Field(gt=0)


class CapacityDocument(BaseModel):
    """``gridflex market capacity``: a tender, its bids, and optional activation calls."""

    model_config = ConfigDict(extra="forbid")

    tender: CapacityTender
    bids: list[CapacityBid]
    activations: list[ActivationCall] = Field(default_factory=list)


DOCUMENTS: dict[str, type[BaseModel]] = {
    "product": Product,
    "order": Order,
    "block-order": BlockOrder,
    "order-result": OrderResult,
    "auction": AuctionDocument,
    "book": BookDocument,
    "local": LocalDocument,
    "capacity": CapacityDocument,
    "baseline": BaselineDocument,  # gridflex market baseline
    "settlement": SettlementDocument,  # gridflex market settle
}


def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every market document, by file stem."""
    return {name: model.model_json_schema() for name, model in DOCUMENTS.items()}


def write_schemas(directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``<name>.schema.json`` for every document into ``directory``; return the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in schemas().items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def read_document(path: str | os.PathLike[str], model: type[M]) -> M:
    """Parse a JSON file into ``model``; raise one :class:`DataError` naming the first bad fields."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return model.model_validate_json(raw)
    except PydanticValidationError as e:
        errs = e.errors()
        shown = "; ".join(f"{'.'.join(str(x) for x in er['loc'])}: {er['msg']}" for er in errs[:5])
        more = f"; … and {len(errs) - 5} more" if len(errs) > 5 else ""
        raise DataError(f"{path}: {len(errs)} problem(s): {shown}{more}") from None

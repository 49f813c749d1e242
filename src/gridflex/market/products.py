"""Market products: what is traded, in which time unit, until when, within which price limits.

A product fixes the delivery horizon (``delivery_start`` + ``n_isps`` imbalance settlement periods of
``isp_s`` seconds, 15 min or 1 h), the gate closure (an absolute time for auctions, or a lead time
before each ISP for continuous trading), the price limits and, optionally, the places (bidding zones,
congestion points) where it may be traded. Times are UTC; ISPs are addressed by their index
``0..n_isps-1`` in the horizon.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

__all__ = ["Product", "ProductKind", "epoch_s"]


class ProductKind(StrEnum):
    """The mechanism a product is traded in."""

    ENERGY_AUCTION = "energy_auction"  # uniform-price double auction per ISP, block orders
    ENERGY_CONTINUOUS = "energy_continuous"  # continuous intraday book, price-time priority
    LOCAL_FLEX = "local_flex"  # DSO FlexRequests answered by FlexOffers (USEF)
    BALANCING_CAPACITY = "balancing_capacity"  # TSO reserves (FCR, aFRR, mFRR, RTE RR/RC)
    FLEXOFFER = "flexoffer"  # TotalFlex flex-offer trading


def epoch_s(t: datetime) -> int:
    """Seconds since the Unix epoch of an aware datetime (UTC)."""
    return int(t.timestamp())


class Product(BaseModel):
    """One tradable product. Example: a day-ahead auction of 24 hourly ISPs closing at noon D-1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: str = Field(min_length=1, description="Unique product name, e.g. 'DA-FR-2018-06-12'.")
    kind: ProductKind
    isp_s: Literal[900, 3600] = Field(3600, description="ISP length in seconds: 900 (15 min) or 3600 (1 h).")
    delivery_start: AwareDatetime = Field(description="Start of ISP 0 (UTC or with offset).")
    n_isps: int = Field(ge=1, le=100_000, description="Number of ISPs in the horizon.")
    gate_closure: AwareDatetime | None = Field(
        None, description="No order for any ISP is accepted after this time (auctions)."
    )
    lead_time_s: int = Field(
        0, ge=0, description="An order for ISP k must arrive at least this long before ISP k starts."
    )
    price_min_eur_per_mwh: float = Field(-500.0, description="Lowest admissible order price.")
    price_max_eur_per_mwh: float = Field(4000.0, description="Highest admissible order price.")
    places: list[str] = Field(
        default_factory=list, description="Places (zones, congestion points) allowed; empty means any."
    )

    @model_validator(mode="after")
    def _limits_ordered(self) -> Product:
        if not self.price_min_eur_per_mwh < self.price_max_eur_per_mwh:
            raise ValueError("price_min_eur_per_mwh must be below price_max_eur_per_mwh")
        return self

    @property
    def delivery_start_s(self) -> int:
        return epoch_s(self.delivery_start)

    @property
    def isp_h(self) -> float:
        """ISP length in hours (MW × isp_h = MWh)."""
        return self.isp_s / 3600.0

    def isp_starts_s(self) -> np.ndarray:
        """Start of every ISP, seconds since the epoch."""
        return self.delivery_start_s + self.isp_s * np.arange(self.n_isps, dtype=np.int64)

    def gate_closure_s(self, isp: np.ndarray) -> np.ndarray:
        """Latest admissible submission time per ISP index (the earlier of both gate rules)."""
        isp = np.asarray(isp, dtype=np.int64)
        lead = self.delivery_start_s + self.isp_s * isp - self.lead_time_s
        if self.gate_closure is None:
            return lead
        return np.minimum(lead, epoch_s(self.gate_closure))

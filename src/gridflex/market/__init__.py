"""Markets: day-ahead prices (SMARD), products, orders, clearing (auction, continuous book, local
flexibility, capacity), flex-offer trading. Baselines and settlement live next to them."""

from gridflex.market.auction import AuctionResult, clear_auction, clear_curves
from gridflex.market.book import ContinuousBook, Trade
from gridflex.market.capacity import (
    ActivationResult,
    CapacityBid,
    CapacityResult,
    CapacityTender,
    Reserve,
    activate,
    procure_capacity,
)
from gridflex.market.flexoffers import FlexOfferTrade, trade_flexoffers
from gridflex.market.local import FlexNetwork, FlexOffer, FlexOrder, FlexRequest, LocalResult, clear_local
from gridflex.market.orders import BlockOrder, Execution, Order, OrderArrays, OrderResult, OrderStatus, Side
from gridflex.market.prices import available_years, load_smard_prices, prices_on_grid
from gridflex.market.products import Product, ProductKind

__all__ = [
    "ActivationResult",
    "AuctionResult",
    "BlockOrder",
    "CapacityBid",
    "CapacityResult",
    "CapacityTender",
    "ContinuousBook",
    "Execution",
    "FlexNetwork",
    "FlexOffer",
    "FlexOfferTrade",
    "FlexOrder",
    "FlexRequest",
    "LocalResult",
    "Order",
    "OrderArrays",
    "OrderResult",
    "OrderStatus",
    "Product",
    "ProductKind",
    "Reserve",
    "Side",
    "Trade",
    "activate",
    "available_years",
    "clear_auction",
    "clear_curves",
    "clear_local",
    "load_smard_prices",
    "prices_on_grid",
    "procure_capacity",
    "trade_flexoffers",
]

"""Markets: day-ahead prices (SMARD) today; products, orders, clearing, baselines and settlement next."""

from gridflex.market.prices import available_years, load_smard_prices, prices_on_grid

__all__ = ["available_years", "load_smard_prices", "prices_on_grid"]

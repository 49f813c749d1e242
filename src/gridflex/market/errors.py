"""Raising the one market error from collected problems."""

from __future__ import annotations

from gridflex.errors import MarketError, Problem

__all__ = ["raise_market_error"]


def raise_market_error(what: str, problems: list[Problem]) -> None:
    """Raise :class:`MarketError` listing ``problems``; do nothing when there are none."""
    if problems:
        raise MarketError(what, problems)

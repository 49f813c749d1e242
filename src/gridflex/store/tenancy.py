"""Tenancy, in one place: who may see and change what, as SQL filters and checks on a principal.

Every repository takes the calling :class:`Principal` and uses these functions; routes never filter.

- A participant (DSO, TSO, BRP, aggregator, prosumer) reads and writes its own orders and trades.
- A DSO also reads the orders and trades placed at the congestion points of its grid areas.
- The market operator reads the whole book, creates products and runs clearing.
- The admin manages organisations and tokens of everyone, and reads everything.
- Products, grid areas, congestion points and clearing prices are market information: every
  authenticated caller reads them.

What a caller may not see is reported as not found (404), never as forbidden, so that ids do not
leak; what it sees but may not change is forbidden (403).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, true

from gridflex.store.errors import PermissionDeniedError
from gridflex.store.tables import (
    ApiToken,
    CongestionPoint,
    GridArea,
    OrderRow,
    Organisation,
    Role,
    TradeRow,
)

__all__ = [
    "TRADING_ROLES",
    "Principal",
    "can_write_org",
    "orders_visible",
    "orgs_visible",
    "require_role",
    "tokens_visible",
    "trades_visible",
]

TRADING_ROLES = frozenset({Role.DSO, Role.TSO, Role.BRP, Role.AGGREGATOR, Role.PROSUMER})


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organisation and its roles, through one token (``token_id``)."""

    org_id: int
    org_name: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    token_id: int | None = None

    @classmethod
    def system(cls) -> Principal:
        """The shell's bootstrap identity (`gridflex accounts`, `gridflex serve`): an admin."""
        return cls(org_id=0, org_name="(system)", roles=frozenset({Role.ADMIN}))

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def sees_book(self) -> bool:
        return self.is_admin or Role.MARKET_OPERATOR in self.roles


def require_role(p: Principal, *roles: Role, action: str) -> None:
    """Raise 403 unless the principal holds one of ``roles`` (admin always passes)."""
    if p.is_admin or p.roles & set(roles):
        return
    need = " or ".join(r.value for r in roles)
    raise PermissionDeniedError(f"{action} needs the role {need}")


def can_write_org(p: Principal, org_id: int) -> bool:
    return p.is_admin or p.org_id == org_id


def orgs_visible(p: Principal) -> ColumnElement[bool]:
    return true() if p.sees_book else Organisation.id == p.org_id


def tokens_visible(p: Principal) -> ColumnElement[bool]:
    return true() if p.is_admin else ApiToken.org_id == p.org_id


def _dso_places(p: Principal) -> Select[Any]:
    return (
        select(CongestionPoint.name)
        .join(GridArea, GridArea.id == CongestionPoint.grid_area_id)
        .where(GridArea.dso_org_id == p.org_id)
    )


def orders_visible(p: Principal) -> ColumnElement[bool]:
    if p.sees_book:
        return true()
    own = OrderRow.participant_org_id == p.org_id
    if Role.DSO in p.roles:
        return or_(own, OrderRow.place.in_(_dso_places(p)))
    return own


def trades_visible(p: Principal) -> ColumnElement[bool]:
    if p.sees_book:
        return true()
    own = TradeRow.participant_org_id == p.org_id
    if Role.DSO in p.roles:
        return or_(own, TradeRow.place.in_(_dso_places(p)))
    return own

"""Tenancy, in one place: who may see and change what, as SQL filters and checks on a principal.

Every repository takes the calling :class:`Principal` and uses these functions; routes never filter.

- A participant (DSO, TSO, BRP, aggregator, prosumer) reads and writes its own orders and trades.
- A DSO also reads the orders and trades placed at the congestion points of its grid areas.
- The market operator reads the whole book, creates products and runs clearing.
- The admin manages organisations and tokens of everyone, and reads everything.
- Users are their organisation's: its own token or an ``org_admin`` user's token manages them and all
  its tokens; a plain user's token manages its own tokens only.
- A DSO's flexibility request is seen by every aggregator (whom it addresses); an offer by its
  aggregator and the request's DSO.
- Products, grid areas, congestion points and clearing prices are market information: every
  authenticated caller reads them.
- A connection point (its readings and baselines) is seen by its owner, its BRP and the DSO of its
  congestion point; an activation by its buyer and provider; a settlement by the organisation that
  ran it and every party of one of its lines (each party seeing its own lines).
- Uploaded documents, jobs on them and webhooks are their organisation's alone; the market operator
  also sees every clearing job.

Every visibility predicate is a ``<things>_visible`` function of this module (a test keeps it so).

What a caller may not see is reported as not found (404), never as forbidden, so that ids do not
leak; what it sees but may not change is forbidden (403).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import Session

from gridflex.store.errors import NotFoundError, PermissionDeniedError
from gridflex.store.tables import (
    CLEARING,
    ActivationRow,
    ApiToken,
    AuditRow,
    CongestionPoint,
    ConnectionPointRow,
    FlexRequestOffer,
    FlexRequestRow,
    GridArea,
    JobRow,
    OrderRow,
    Organisation,
    Role,
    SettlementLineRow,
    SettlementRow,
    TradeRow,
    UploadRow,
    User,
    WebhookRow,
)

Row = TypeVar("Row")

__all__ = [
    "TRADING_ROLES",
    "Principal",
    "activations_visible",
    "audit_visible",
    "can_write_org",
    "jobs_visible",
    "offers_visible",
    "one_visible",
    "orders_visible",
    "orgs_visible",
    "points_visible",
    "readings_writable",
    "requests_visible",
    "require_org_manager",
    "require_owner",
    "require_role",
    "settlement_lines_visible",
    "settlements_visible",
    "tokens_visible",
    "trades_visible",
    "uploads_visible",
    "users_visible",
    "webhooks_visible",
]

TRADING_ROLES = frozenset({Role.DSO, Role.TSO, Role.BRP, Role.AGGREGATOR, Role.PROSUMER})


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organisation and its roles, through one token (``token_id``), which may
    belong to one of the organisation's users (``user_id``; ``None``: an organisation's token).

    ``org_manager``: may manage the organisation's users and every token of it (an organisation's
    token or a token of a user who is an organisation admin); a plain user's token manages only its
    own tokens."""

    org_id: int
    org_name: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    token_id: int | None = None
    user_id: int | None = None
    org_manager: bool = True

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


def require_owner(p: Principal, owner_org_id: int, message: str) -> None:
    """Raise 403 (``message``) unless the principal is the owning organisation (or the admin)."""
    if not can_write_org(p, owner_org_id):
        raise PermissionDeniedError(message)


def one_visible(
    session: Session, entity: type[Row], key: object, visible: ColumnElement[bool], what: str
) -> Row:
    """The ``entity`` row with primary key ``key`` if ``visible`` to the caller, else 404 naming ``what``."""
    pk = entity.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    row = session.scalar(select(entity).where(pk == key, visible))
    if row is None:
        raise NotFoundError(f"{what} {key} not found")
    return row


def can_write_org(p: Principal, org_id: int) -> bool:
    return p.is_admin or p.org_id == org_id


def require_org_manager(p: Principal, org_id: int, action: str) -> None:
    """403 unless the principal manages organisation ``org_id`` (its admin user, its own token, the admin)."""
    if p.is_admin or (p.org_id == org_id and p.org_manager):
        return
    raise PermissionDeniedError(f"{action} needs an organisation admin of organisation {org_id}")


def orgs_visible(p: Principal) -> ColumnElement[bool]:
    """An organisation: itself; the book (market operator, admin) sees them all."""
    return true() if p.sees_book else Organisation.id == p.org_id


def tokens_visible(p: Principal) -> ColumnElement[bool]:
    """An API token: its organisation and the admin."""
    return true() if p.is_admin else ApiToken.org_id == p.org_id


def users_visible(p: Principal) -> ColumnElement[bool]:
    """Users are their organisation's (the admin sees all; the market operator sees no one's people)."""
    return true() if p.is_admin else User.org_id == p.org_id


def _dso_places(p: Principal) -> Select[Any]:
    return (
        select(CongestionPoint.name)
        .join(GridArea, GridArea.id == CongestionPoint.grid_area_id)
        .where(GridArea.dso_org_id == p.org_id)
    )


def _dso_points(p: Principal) -> Select[Any]:
    return (
        select(CongestionPoint.id)
        .join(GridArea, GridArea.id == CongestionPoint.grid_area_id)
        .where(GridArea.dso_org_id == p.org_id)
    )


def requests_visible(p: Principal) -> ColumnElement[bool]:
    """A flex request: its DSO (and the DSO of its point), every aggregator (whom it addresses), the book."""
    if p.sees_book or Role.AGGREGATOR in p.roles:
        return true()
    if Role.DSO in p.roles:
        return or_(
            FlexRequestRow.dso_org_id == p.org_id, FlexRequestRow.congestion_point_id.in_(_dso_points(p))
        )
    return false()


def offers_visible(p: Principal) -> ColumnElement[bool]:
    """A flex offer: its aggregator, the DSO of its request, the book."""
    if p.sees_book:
        return true()
    own = FlexRequestOffer.aggregator_org_id == p.org_id
    if Role.DSO in p.roles:
        mine = select(FlexRequestRow.id).where(FlexRequestRow.dso_org_id == p.org_id)
        return or_(own, FlexRequestOffer.request_id.in_(mine))
    return own


def orders_visible(p: Principal) -> ColumnElement[bool]:
    """An order: its participant, the DSO of its place, the book."""
    if p.sees_book:
        return true()
    own = OrderRow.participant_org_id == p.org_id
    if Role.DSO in p.roles:
        return or_(own, OrderRow.place.in_(_dso_places(p)))
    return own


def trades_visible(p: Principal) -> ColumnElement[bool]:
    """A trade: its participant, the DSO of its place, the book."""
    if p.sees_book:
        return true()
    own = TradeRow.participant_org_id == p.org_id
    if Role.DSO in p.roles:
        return or_(own, TradeRow.place.in_(_dso_places(p)))
    return own


def points_visible(p: Principal) -> ColumnElement[bool]:
    """A connection point (and its readings, baselines): its owner, its BRP, its prosumer (decision 0032),
    its congestion point's DSO, the book."""
    if p.sees_book:
        return true()
    mine = or_(
        ConnectionPointRow.owner_org_id == p.org_id,
        ConnectionPointRow.brp_org_id == p.org_id,
        ConnectionPointRow.prosumer_org_id == p.org_id,
    )
    if Role.DSO in p.roles:
        return or_(mine, ConnectionPointRow.congestion_point_id.in_(_dso_points(p)))
    return mine


def readings_writable(p: Principal) -> ColumnElement[bool]:
    """Who uploads a connection point's readings: its owner, the DSO of its congestion point (the meter
    operator in most grids), the admin."""
    if p.is_admin:
        return true()
    mine = ConnectionPointRow.owner_org_id == p.org_id
    if Role.DSO in p.roles:
        return or_(mine, ConnectionPointRow.congestion_point_id.in_(_dso_points(p)))
    return mine


def audit_visible(p: Principal) -> ColumnElement[bool]:
    """An audit event: the organisation that acted and the one it concerns, the book."""
    if p.sees_book:
        return true()
    return or_(AuditRow.actor_org_id == p.org_id, AuditRow.subject_org_id == p.org_id)


def activations_visible(p: Principal) -> ColumnElement[bool]:
    """An activation: its buyer (the DSO or TSO) and its provider, the book."""
    if p.sees_book:
        return true()
    return or_(ActivationRow.buyer_org_id == p.org_id, ActivationRow.seller_org_id == p.org_id)


def settlements_visible(p: Principal) -> ColumnElement[bool]:
    """A settlement: the organisation that ran it, every payer or payee of one of its lines, the book."""
    if p.sees_book:
        return true()
    party = select(SettlementLineRow.settlement_id).where(
        or_(SettlementLineRow.payer_org_id == p.org_id, SettlementLineRow.payee_org_id == p.org_id)
    )
    return or_(SettlementRow.run_by_org_id == p.org_id, SettlementRow.id.in_(party))


def settlement_lines_visible(p: Principal) -> ColumnElement[bool]:
    """A settlement line: its payer and payee, the organisation that ran its settlement, the book."""
    if p.sees_book:
        return true()
    ran = select(SettlementRow.id).where(SettlementRow.run_by_org_id == p.org_id)
    return or_(
        SettlementLineRow.payer_org_id == p.org_id,
        SettlementLineRow.payee_org_id == p.org_id,
        SettlementLineRow.settlement_id.in_(ran),
    )


def jobs_visible(p: Principal) -> ColumnElement[bool]:
    """A job: the organisation that started it and the admin; the market operator also every clearing job
    (market-wide work), never the work on a participant's documents."""
    if p.is_admin:
        return true()
    own = JobRow.created_by_org_id == p.org_id
    return or_(own, JobRow.kind == CLEARING) if p.sees_book else own


def uploads_visible(p: Principal) -> ColumnElement[bool]:
    """An uploaded document (site, study, flex-offers file): its organisation and the admin."""
    return true() if p.is_admin else UploadRow.org_id == p.org_id


def webhooks_visible(p: Principal) -> ColumnElement[bool]:
    """A webhook (and its deliveries): its organisation and the admin."""
    return true() if p.is_admin else WebhookRow.org_id == p.org_id

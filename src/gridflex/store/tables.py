"""The tables (SQLAlchemy 2 declarative), all of them: the repositories' modules and the tenancy
rules (:mod:`gridflex.store.tenancy`) import them from here. Every order, trade and run is keyed by
participant, product, place and ISP, as in the market engine (`gridflex.market.orders`).

Quantities MW per ISP, prices EUR/MWh, times aware UTC (naive UTC in the database).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gridflex.store.columns import UTCDateTime, utcnow

__all__ = [
    "CLEARING",
    "ActivationRow",
    "ActivationStatus",
    "ApiToken",
    "AuditRow",
    "Base",
    "BaselineRow",
    "ClearingRun",
    "CongestionPoint",
    "ConnectionPointRow",
    "DeliveryRow",
    "DisputeRow",
    "DisputeStatus",
    "FlexRequestOffer",
    "FlexRequestRow",
    "GridArea",
    "IdempotencyKey",
    "JobFileRow",
    "JobRow",
    "JobStatus",
    "MeterReadingRow",
    "OrderRow",
    "OrgRole",
    "Organisation",
    "ProductRow",
    "Role",
    "SettlementLineRow",
    "SettlementRow",
    "TradeRow",
    "UploadRow",
    "User",
    "WebhookRow",
]

# Named constraints: Alembic can drop and alter them on both SQLite (batch mode) and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Role(StrEnum):
    """Market roles of an organisation (an organisation may hold several)."""

    DSO = "dso"
    TSO = "tso"
    BRP = "brp"
    AGGREGATOR = "aggregator"
    PROSUMER = "prosumer"
    MARKET_OPERATOR = "market_operator"
    ADMIN = "admin"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    roles: Mapped[list[OrgRole]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_names(self) -> list[str]:
        return sorted(r.role for r in self.roles)


class OrgRole(Base):
    __tablename__ = "organisation_roles"

    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation: Mapped[Organisation] = relationship(back_populates="roles")


class User(Base):
    """A person of an organisation. Passwords, when they come, are argon2 hashes (ADR 0006)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    org_admin: Mapped[bool] = mapped_column(Boolean, default=False)  # manages the org's users and tokens
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)  # its tokens revoked at that time


class ApiToken(Base):
    """A named API token: only the SHA-256 digest of its secret is kept (ADR 0006)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))  # first characters of the secret, for display only
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the whole secret
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class GridArea(Base):
    """A DSO's grid area; its congestion points are the places of local flexibility."""

    __tablename__ = "grid_areas"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dso_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)


class CongestionPoint(Base):
    """A set of connection points behind a constraint; ``name`` is the ``place`` orders refer to."""

    __tablename__ = "congestion_points"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    grid_area_id: Mapped[int] = mapped_column(ForeignKey("grid_areas.id", ondelete="CASCADE"), index=True)


class ProductRow(Base):
    """A market product: ``spec`` is the market engine's :class:`gridflex.market.Product` as JSON."""

    __tablename__ = "products"

    product_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)  # set by the one clearing run


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_product_status", "product_id", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    participant_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    product_id: Mapped[str] = mapped_column(ForeignKey("products.product_id", ondelete="RESTRICT"))
    place: Mapped[str] = mapped_column(String(200), default="", index=True)
    isp: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(8))
    quantity_mw: Mapped[float] = mapped_column(Float)
    price_eur_per_mwh: Mapped[float | None] = mapped_column(Float, default=None)
    execution: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(500), default="")
    accepted_mw: Mapped[float] = mapped_column(Float, default=0.0)
    client_ref: Mapped[str] = mapped_column(String(200), default="")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """A POST's Idempotency-Key: the same key and body again returns the same resource."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_idempotency_keys_org_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClearingRun(Base):
    """One clearing of a product: written with all its trades in one transaction, or not at all."""

    __tablename__ = "clearing_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.product_id", ondelete="RESTRICT"), index=True
    )
    started_by_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    n_orders: Mapped[int] = mapped_column(Integer, default=0)
    n_trades: Mapped[int] = mapped_column(Integer, default=0)
    welfare_eur: Mapped[float] = mapped_column(Float, default=0.0)
    cells: Mapped[dict[str, Any]] = mapped_column()  # {"cells": [...]}: price and volume per place × ISP


class TradeRow(Base):
    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("clearing_runs.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    participant_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    product_id: Mapped[str] = mapped_column(String(200))
    place: Mapped[str] = mapped_column(String(200), default="")
    isp: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(8))
    quantity_mw: Mapped[float] = mapped_column(Float)
    price_eur_per_mwh: Mapped[float] = mapped_column(Float)


class FlexRequestRow(Base):
    """A DSO's FlexRequest at one congestion point: kW per ISP in one direction, a price cap."""

    __tablename__ = "flex_requests"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    dso_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    congestion_point_id: Mapped[int] = mapped_column(
        ForeignKey("congestion_points.id", ondelete="RESTRICT"), index=True
    )
    congestion_point: Mapped[str] = mapped_column(String(200))  # its name, the orders' ``place``
    direction: Mapped[str] = mapped_column(String(8))
    start: Mapped[datetime] = mapped_column()
    isp_s: Mapped[int] = mapped_column(Integer)
    volume_kw: Mapped[list[float]] = mapped_column(JSON)
    max_price_eur_per_mwh: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlexRequestOffer(Base):
    """An aggregator's FlexOffer answering one request: kW per ISP of the request, one price."""

    __tablename__ = "flex_request_offers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("flex_requests.id", ondelete="CASCADE"), index=True)
    aggregator_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    volume_kw: Mapped[list[float]] = mapped_column(JSON)
    price_eur_per_mwh: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="offered")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)


class ConnectionPointRow(Base):
    """A metered connection point (EAN) of a flexibility provider."""

    __tablename__ = "connection_points"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    congestion_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("congestion_points.id", ondelete="RESTRICT"), default=None, index=True
    )
    brp_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prosumer_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), default=None, index=True
    )  # the prosumer whose site an aggregator's point is: it sees the point, is paid for its part


class MeterReadingRow(Base):
    """Average power (kW) of one connection point over one ISP starting at ``period_start``."""

    __tablename__ = "meter_readings"

    connection_point_id: Mapped[int] = mapped_column(
        ForeignKey("connection_points.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    isp_s: Mapped[int] = mapped_column(Integer)
    power_kw: Mapped[float] = mapped_column(Float)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # corrections so far
    uploaded_by_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRow(Base):
    """One event of the market lifecycle: who did what to which object, and for whom."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    actor_token_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # the token used
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)  # its user
    subject_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), default=None, index=True
    )  # the other party concerned (the provider of an activation, the owner of a meter …)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


CLEARING = "clearing"  # the job kind of a product's clearing (market-wide work: tenancy names it)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobRow(Base):
    """One job. ``kind`` + ``product_id`` is unique: one clearing job per product."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("kind", "product_id", name="uq_jobs_kind_product"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[str | None] = mapped_column(
        ForeignKey("products.product_id", ondelete="CASCADE"), default=None
    )
    created_by_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="CASCADE"), default=None, index=True
    )
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value, index=True)
    stage: Mapped[str] = mapped_column(String(32), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    message: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class UploadRow(Base):
    """One uploaded document: ``body`` as parsed (JSON), ``summary`` what the API lists."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column()
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookRow(Base):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[dict[str, Any]] = mapped_column()  # {"events": [...]}
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryRow(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class ActivationStatus:
    SENT = "sent"  # waiting for the provider
    ACKNOWLEDGED = "acknowledged"  # the provider delivers from the named connection points
    DECLINED = "declined"
    SETTLED = "settled"


class ActivationRow(Base):
    """A call for delivery of an accepted FlexOffer: kW per ISP of its request (0: not called)."""

    __tablename__ = "activations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    offer_id: Mapped[int] = mapped_column(
        ForeignKey("flex_request_offers.id", ondelete="RESTRICT"), index=True
    )
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    seller_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    congestion_point: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(8))
    start: Mapped[datetime] = mapped_column()
    isp_s: Mapped[int] = mapped_column(Integer)
    power_kw: Mapped[list[float]] = mapped_column(JSON)
    price_eur_per_mwh: Mapped[float] = mapped_column(Float)
    penalty_eur_per_mwh: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default=ActivationStatus.SENT)
    reason: Mapped[str] = mapped_column(String(500), default="")
    connection_points: Mapped[list[str]] = mapped_column(JSON, default=list)
    settlement_id: Mapped[int | None] = mapped_column(
        ForeignKey("settlements.id", ondelete="RESTRICT"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("activations.id", ondelete="RESTRICT"), default=None, index=True
    )  # a dispatch: the activation of which its aggregator calls this part from a prosumer


class SettlementRow(Base):
    """One settlement run over ``[start, end)`` (whole local days of ``tz``)."""

    __tablename__ = "settlements"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_by_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    tz: Mapped[str] = mapped_column(String(64))
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON)  # the BaselineSpec
    history_days: Mapped[int] = mapped_column(Integer)
    transfer_price_eur_per_mwh: Mapped[float] = mapped_column(Float, default=0.0)
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO dates (a revision reuses them)
    activations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # one summary per activation
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(Integer, default=1)  # 2, 3 …: re-settled after corrections
    revises_id: Mapped[int | None] = mapped_column(
        ForeignKey("settlements.id", ondelete="RESTRICT"), default=None, index=True
    )  # the revision it replaces
    superseded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("settlements.id", ondelete="RESTRICT"), default=None
    )  # the revision that replaced it


class DisputeStatus:
    OPEN = "open"  # waiting for corrected readings and a re-settlement
    RESOLVED = "resolved"  # a later revision of the settlement re-settled it


class DisputeRow(Base):
    """A party's objection to one line of a settlement (its own: payer or payee)."""

    __tablename__ = "settlement_disputes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("settlement_lines.id", ondelete="CASCADE"))
    raised_by_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    reason: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default=DisputeStatus.OPEN)
    resolved_by_settlement_id: Mapped[int | None] = mapped_column(
        ForeignKey("settlements.id", ondelete="RESTRICT"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class SettlementLineRow(Base):
    """One transfer of a settlement: ``amount_eur`` from payer to payee (negative: the other way)."""

    __tablename__ = "settlement_lines"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id", ondelete="CASCADE"), index=True)
    period_start: Mapped[datetime] = mapped_column()
    item: Mapped[str] = mapped_column(String(32))
    activation_id: Mapped[int] = mapped_column(ForeignKey("activations.id", ondelete="RESTRICT"))
    payer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    payee_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    energy_kwh: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    price_unit: Mapped[str] = mapped_column(String(16))
    amount_eur: Mapped[float] = mapped_column(Float)


class BaselineRow(Base):
    """A connection point's baseline and readings (kW per ISP) over ``[start, start + n·isp_s)``."""

    __tablename__ = "baselines"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connection_point_id: Mapped[int] = mapped_column(
        ForeignKey("connection_points.id", ondelete="CASCADE"), index=True
    )
    settlement_id: Mapped[int | None] = mapped_column(
        ForeignKey("settlements.id", ondelete="CASCADE"), default=None, index=True
    )
    created_by_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    start: Mapped[datetime] = mapped_column()
    isp_s: Mapped[int] = mapped_column(Integer)
    tz: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    baseline_kw: Mapped[list[float | None]] = mapped_column(JSON)  # None: no baseline (too little history)
    metered_kw: Mapped[list[float | None]] = mapped_column(JSON)  # None: no reading
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobFileRow(Base):
    """One file of a job: ``content`` gzip-compressed, ``size`` its length uncompressed (bytes)."""

    __tablename__ = "job_files"
    __table_args__ = (UniqueConstraint("job_id", "name", name="uq_job_files_job_name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

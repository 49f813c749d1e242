"""Webhooks: a participant's URL called with its new trades, signed with HMAC-SHA256.

Deliveries are an outbox: the clearing transaction that writes the trades also writes one delivery
row per subscribed webhook (:func:`enqueue_trades`), so a committed run always has its deliveries and a
rolled-back one has none. A sender (in `gridflex serve`) posts them and retries with a growing delay.

Signature (as Stripe's and Svix's): header ``Gridflex-Signature: t=<unix s>,v1=<hex>`` where ``hex`` is
HMAC-SHA256 with the webhook's secret over ``"<t>.<body>"``; the receiver recomputes it, compares in
constant time and refuses old ``t`` (replays). The secret is shown once, at creation; the store must
keep it to sign, so it is stored as given (unlike API tokens, which only need a digest).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gridflex.store.columns import utcnow
from gridflex.store.errors import NotFoundError
from gridflex.store.tables import DeliveryRow, Role, TradeRow, WebhookRow
from gridflex.store.tenancy import TRADING_ROLES, Principal, require_role, webhooks_visible

__all__ = [
    "EVENTS",
    "MAX_ATTEMPTS",
    "DeliveryRow",
    "NewWebhook",
    "WebhookRow",
    "Webhooks",
    "due_deliveries",
    "enqueue_event",
    "enqueue_trades",
    "record_attempt",
    "sign",
    "verify",
]

EVENTS = ("trades", "activations", "jobs")  # jobs: queued, running, progress (coarse), succeeded, failed
MAX_ATTEMPTS = 8  # then the delivery is "failed" (delays 1, 2, 4, … 64 s between attempts)
SIGNATURE_TOLERANCE_S = 300


@dataclass(frozen=True)
class NewWebhook:
    webhook: WebhookRow
    secret: str  # shown this once


def sign(secret: str, body: bytes, t: int) -> str:
    """The ``Gridflex-Signature`` header value for ``body`` sent at unix time ``t``."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: str, body: bytes, header: str, now_s: int, tolerance_s: int = SIGNATURE_TOLERANCE_S
) -> bool:
    """What a receiver does: the signature matches and is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now_s - t) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, t), f"t={t},v1={parts.get('v1', '')}")


class Webhooks:
    """A participant's webhooks (the admin sees all)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def create(self, url: str, events: list[str]) -> NewWebhook:
        require_role(self.p, *TRADING_ROLES, Role.MARKET_OPERATOR, action="subscribing a webhook")
        secret = "whsec_" + secrets.token_urlsafe(32)
        hook = WebhookRow(
            org_id=self.p.org_id, url=url, secret=secret, events={"events": sorted(set(events))}
        )
        self.s.add(hook)
        self.s.flush()
        return NewWebhook(hook, secret)

    def list_all(self) -> list[WebhookRow]:
        return list(
            self.s.scalars(select(WebhookRow).where(webhooks_visible(self.p)).order_by(WebhookRow.id))
        )

    def get(self, webhook_id: int) -> WebhookRow:
        hook = self.s.scalar(select(WebhookRow).where(WebhookRow.id == webhook_id, webhooks_visible(self.p)))
        if hook is None:
            raise NotFoundError(f"webhook {webhook_id} not found")
        return hook

    def delete(self, webhook_id: int) -> WebhookRow:
        hook = self.get(webhook_id)
        hook.active = False
        self.s.flush()
        return hook

    def deliveries(self, webhook_id: int, limit: int = 100) -> list[DeliveryRow]:
        self.get(webhook_id)
        q = select(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id)
        return list(self.s.scalars(q.order_by(DeliveryRow.id.desc()).limit(limit)))


def enqueue_trades(session: Session, run_id: int, product_id: str, trades: list[dict[str, Any]]) -> int:
    """One ``trades`` delivery per active webhook of each participant with trades in the run."""
    if not trades:
        return 0
    by_org: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t in trades:
        by_org[int(t["participant_org_id"])].append(t)
    hooks = session.execute(
        select(WebhookRow.id, WebhookRow.org_id, WebhookRow.events).where(
            WebhookRow.org_id.in_(by_org), WebhookRow.active.is_(True)
        )
    ).all()
    if not any("trades" in h.events.get("events", []) for h in hooks):
        return 0  # a gate closure's 100,000 trades are not read back for nobody
    ids = dict(session.execute(select(TradeRow.order_id, TradeRow.id).where(TradeRow.run_id == run_id)).all())
    now = utcnow()
    rows = [
        {"webhook_id": h.id, "event": "trades", "status": "pending", "attempts": 0, "next_at": now,
         "last_error": "", "created_at": now,
         "payload": {"event": "trades", "run_id": run_id, "product_id": product_id,
                     "trades": [{**_public(t), "id": ids.get(t["order_id"])} for t in by_org[h.org_id]]}}
        for h in hooks
        if "trades" in h.events.get("events", [])
    ]  # fmt: skip
    if rows:
        session.execute(insert(DeliveryRow), rows)
    return len(rows)


def enqueue_event(session: Session, org_id: int, event: str, payload: dict[str, Any]) -> int:
    """One ``event`` delivery per active webhook of ``org_id`` subscribed to it (an outbox row, in
    the caller's transaction)."""
    hooks = session.execute(
        select(WebhookRow.id, WebhookRow.events).where(
            WebhookRow.org_id == org_id, WebhookRow.active.is_(True)
        )
    ).all()
    now = utcnow()
    rows = [
        {"webhook_id": h.id, "event": event, "status": "pending", "attempts": 0, "next_at": now,
         "last_error": "", "created_at": now, "payload": {"event": event, **payload}}
        for h in hooks
        if event in h.events.get("events", [])
    ]  # fmt: skip
    if rows:
        session.execute(insert(DeliveryRow), rows)
    return len(rows)


def _public(t: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "order_id",
        "participant_org_id",
        "product_id",
        "place",
        "isp",
        "side",
        "quantity_mw",
        "price_eur_per_mwh",
    )
    return {k: t[k] for k in keys}


def due_deliveries(
    session: Session, now: datetime, limit: int = 50
) -> list[tuple[int, str, str, str, dict[str, Any]]]:
    """Pending deliveries whose time has come: (id, url, secret, event, payload)."""
    rows = session.execute(
        select(DeliveryRow.id, WebhookRow.url, WebhookRow.secret, DeliveryRow.event, DeliveryRow.payload)
        .join(WebhookRow, WebhookRow.id == DeliveryRow.webhook_id)
        .where(DeliveryRow.status == "pending", DeliveryRow.next_at <= now)
        .order_by(DeliveryRow.next_at, DeliveryRow.id)
        .limit(limit)
    ).all()
    return [tuple(r) for r in rows]


def record_attempt(session: Session, delivery_id: int, error: str | None, now: datetime) -> None:
    """After a POST: delivered, or retried later (1, 2, 4 … s), or failed after ``MAX_ATTEMPTS``."""
    d = session.get_one(DeliveryRow, delivery_id)
    d.attempts += 1
    if error is None:
        d.status, d.delivered_at, d.last_error = "delivered", now, ""
        return
    d.last_error = " ".join(error.split())[:500]
    if d.attempts >= MAX_ATTEMPTS:
        d.status = "failed"
    else:
        d.next_at = now + timedelta(seconds=2 ** (d.attempts - 1))

"""Webhooks: a participant subscribes a URL to its events (trades, activations, its jobs), signed with HMAC-SHA256."""

from __future__ import annotations

from fastapi import APIRouter, status

from gridflex.api.deps import Using
from gridflex.api.schemas import DbId, DeliveryOut, WebhookCreated, WebhookIn, WebhookOut
from gridflex.store.webhooks import WebhookRow

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def out(h: WebhookRow) -> WebhookOut:
    return WebhookOut(id=h.id, org_id=h.org_id, url=h.url, events=h.events.get("events", []), active=h.active,
                      created_at=h.created_at)  # fmt: skip


@router.get("", response_model=list[WebhookOut])
def list_webhooks(r: Using) -> list[WebhookOut]:
    return [out(h) for h in r.webhooks.list_all()]


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
def create_webhook(body: WebhookIn, r: Using) -> WebhookCreated:
    new = r.webhooks.create(body.url, list(body.events))
    return WebhookCreated(**out(new.webhook).model_dump(), secret=new.secret)


@router.get("/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: DbId, r: Using) -> WebhookOut:
    return out(r.webhooks.get(webhook_id))


@router.delete("/{webhook_id}", response_model=WebhookOut)
def delete_webhook(webhook_id: DbId, r: Using) -> WebhookOut:
    """Stops the deliveries (the webhook stays listed, inactive, with its history)."""
    return out(r.webhooks.delete(webhook_id))


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(webhook_id: DbId, r: Using) -> list[DeliveryOut]:
    return [DeliveryOut.model_validate(d) for d in r.webhooks.deliveries(webhook_id)]

"""The webhook sender inside `gridflex serve`: posts the pending deliveries of the outbox
(:mod:`gridflex.store.webhooks`), signed, and records each attempt (retries with a growing delay)."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request

from gridflex.store import Store
from gridflex.store.columns import utcnow
from gridflex.store.webhooks import due_deliveries, record_attempt, sign

__all__ = ["WebhookSender", "post"]

log = logging.getLogger("gridflex.webhooks")
POLL_S = 0.5
TIMEOUT_S = 5.0


def post(url: str, secret: str, event: str, delivery_id: int, payload: dict[str, object]) -> str | None:
    """POST one delivery; ``None`` when the receiver answered 2xx, else why not (one line)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    t = int(utcnow().timestamp())
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "gridflex-webhooks",
        "Gridflex-Event": event, "Gridflex-Delivery": str(delivery_id), "Gridflex-Signature": sign(secret, body, t),
    })  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            return None if 200 <= r.status < 300 else f"HTTP {r.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


class WebhookSender:
    """``start()`` then ``stop()``: delivers due webhooks of ``store`` in a background thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gridflex-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=TIMEOUT_S + 5)

    def send_due(self) -> int:
        """Deliver what is due now; how many attempts were made."""
        with self.store.transaction() as s:
            due = due_deliveries(s, utcnow())
        for delivery_id, url, secret, event, payload in due:
            error = post(url, secret, event, delivery_id, payload)  # outside any transaction
            with self.store.transaction() as s:
                record_attempt(s, delivery_id, error, utcnow())
        return len(due)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.send_due() == 0:
                    self._stop.wait(POLL_S)
            except Exception:  # a database hiccup: log it, go on
                log.exception("webhook sender")
                self._stop.wait(POLL_S)

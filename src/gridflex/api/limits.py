"""Limits: a request body limit (ASGI middleware: larger bodies get 413 before any route sees them)
and per-token rate limits (a token bucket each: over it, 429 with Retry-After)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["BodyLimit", "RateLimitedError", "TokenBuckets"]

Scope = dict[str, Any]


class BodyLimit:
    """Refuse bodies over ``max_bytes``: by Content-Length at once, or while streaming (chunked)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(send)
            return
        # Buffer the body (it is small by construction) so that a chunked upload is counted too.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, sent = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        payload = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class RateLimitedError(Exception):
    """A token spent its requests: answered 429 with ``Retry-After: retry_after_s``."""

    def __init__(self, rate_per_s: float, burst: int, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"rate limit of this token reached ({rate_per_s:g} requests/s, bursts of {burst}); "
            f"retry after {retry_after_s} s"
        )


class TokenBuckets:
    """One token bucket per API token: ``burst`` requests at once, refilled at ``rate_per_s``.

    In memory, per server process: a limit against a runaway client, not an accounting record.
    """

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s, self.burst, self.clock = rate_per_s, burst, clock
        self._buckets: dict[int, tuple[float, float]] = {}  # token id -> (level, at)
        self._lock = threading.Lock()

    def take(self, token_id: int) -> None:
        """Spend one request of ``token_id`` or raise :class:`RateLimitedError`."""
        with self._lock:
            now = self.clock()
            level, at = self._buckets.get(token_id, (float(self.burst), now))
            level = min(float(self.burst), level + (now - at) * self.rate_per_s)
            if level < 1.0:
                self._buckets[token_id] = (level, now)
                wait_s = max(1, math.ceil((1.0 - level) / self.rate_per_s))
                raise RateLimitedError(self.rate_per_s, self.burst, wait_s)
            self._buckets[token_id] = (level - 1.0, now)

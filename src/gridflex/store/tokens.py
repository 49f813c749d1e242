"""API token secrets: 256 random bits, shown once, kept as a SHA-256 digest (ADR 0006)."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["PREFIX", "digest", "new_secret"]

PREFIX = "gfx_"


def new_secret() -> str:
    """A new token secret: ``gfx_`` + 43 URL-safe characters (32 random bytes)."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the store keeps: hex SHA-256. A fast hash is enough for a 256-bit random secret."""
    return hashlib.sha256(secret.encode()).hexdigest()

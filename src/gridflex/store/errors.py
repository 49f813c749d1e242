"""The store's errors: what a repository refuses, mapped by the API to 403, 404, 409 and 422."""

from __future__ import annotations

from gridflex.errors import GridflexError

__all__ = [
    "AuthError",
    "ConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "StoreBusyError",
    "StoreError",
]


class StoreError(GridflexError):
    """Base of the store's refusals."""


class AuthError(StoreError):
    """No valid token: missing, unknown, revoked or expired (401)."""


class NotFoundError(StoreError):
    """The object does not exist *or the caller may not see it* (404: existence is not leaked)."""


class PermissionDeniedError(StoreError):
    """The caller sees the object (or the collection) but its roles do not allow the action (403)."""


class ConflictError(StoreError):
    """The action contradicts the stored state: a name taken, an order no longer active (409)."""


class StoreBusyError(StoreError):
    """The database stayed locked by other writers too long (503: retry)."""

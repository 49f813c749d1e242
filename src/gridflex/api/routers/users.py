"""Users of an organisation: its admin users (or its own token) add, list and disable them; a
disabled user's tokens are revoked at once. Each organisation sees only its own users."""

from __future__ import annotations

from fastapi import APIRouter, status

from gridflex.api.deps import Caller, Using
from gridflex.api.schemas import DbId, UserIn, UserOut

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("", response_model=list[UserOut])
def list_users(r: Using) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in r.accounts.list_users()]


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, r: Using, p: Caller) -> UserOut:
    user = r.accounts.create_user(body.org_id or p.org_id, body.email, body.name, body.org_admin)
    return UserOut.model_validate(user)


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: DbId, r: Using) -> UserOut:
    return UserOut.model_validate(r.accounts.get_user(user_id))


@router.post("/{user_id}/disable", response_model=UserOut)
def disable_user(user_id: DbId, r: Using) -> UserOut:
    """Disables the user and revokes all its tokens in one transaction."""
    return UserOut.model_validate(r.accounts.disable_user(user_id))

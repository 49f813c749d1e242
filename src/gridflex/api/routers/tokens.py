"""API tokens: named, expiring, revocable; the secret is in the creation answer only."""

from __future__ import annotations

from fastapi import APIRouter, status

from gridflex.api.deps import Caller, Using
from gridflex.api.schemas import DbId, TokenCreated, TokenIn, TokenOut

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.get("", response_model=list[TokenOut])
def list_tokens(r: Using) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in r.accounts.list_tokens()]


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenIn, r: Using, p: Caller) -> TokenCreated:
    new = r.accounts.create_token(body.org_id or p.org_id, body.name, body.expires_at, body.user_id)
    return TokenCreated(**TokenOut.model_validate(new.token).model_dump(), secret=new.secret)


@router.get("/{token_id}", response_model=TokenOut)
def get_token(token_id: DbId, r: Using) -> TokenOut:
    return TokenOut.model_validate(r.accounts.get_token(token_id))


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: DbId, r: Using) -> TokenOut:
    return TokenOut.model_validate(r.accounts.revoke_token(token_id))

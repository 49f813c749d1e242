"""``/health``: public, cheap, and honest about the database."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from gridflex.api.deps import Tx
from gridflex.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(session: Tx) -> Health:
    session.execute(text("SELECT 1"))
    bind = session.get_bind()
    return Health(database=bind.dialect.name)

"""Clearing runs (the market operator clears a product's book atomically) and the trades they made."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from gridflex.api.deps import Now, Using
from gridflex.api.schemas import MAX_ID, ClearingRunIn, ClearingRunOut, DbId, TradeOut

router = APIRouter(prefix="/v1", tags=["clearing"])


@router.post("/clearing-runs", response_model=ClearingRunOut, status_code=status.HTTP_201_CREATED)
def run_clearing(body: ClearingRunIn, r: Using, at: Now) -> ClearingRunOut:
    return ClearingRunOut.model_validate(r.clearing.run(body.product_id, now=at))


@router.get("/clearing-runs", response_model=list[ClearingRunOut])
def list_clearing_runs(
    r: Using, product: Annotated[str | None, Query(max_length=200)] = None
) -> list[ClearingRunOut]:
    return [ClearingRunOut.model_validate(x) for x in r.clearing.list_runs(product)]


@router.get("/clearing-runs/{run_id}", response_model=ClearingRunOut)
def get_clearing_run(run_id: DbId, r: Using) -> ClearingRunOut:
    return ClearingRunOut.model_validate(r.clearing.get_run(run_id))


@router.get("/trades", response_model=list[TradeOut])
def list_trades(
    r: Using,
    run_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[TradeOut]:
    return [TradeOut.model_validate(t) for t in r.clearing.list_trades(run_id, limit, after)]

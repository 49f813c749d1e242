"""Grid areas and congestion points: market information every caller reads; DSOs write their own."""

from __future__ import annotations

from fastapi import APIRouter, status

from gridflex.api.deps import Using
from gridflex.api.schemas import CongestionPointIn, CongestionPointOut, DbId, GridAreaIn, GridAreaOut

router = APIRouter(prefix="/v1/grid-areas", tags=["places"])


@router.get("", response_model=list[GridAreaOut])
def list_grid_areas(r: Using) -> list[GridAreaOut]:
    return [GridAreaOut.model_validate(a) for a in r.places.list_grid_areas()]


@router.post("", response_model=GridAreaOut, status_code=status.HTTP_201_CREATED)
def create_grid_area(body: GridAreaIn, r: Using) -> GridAreaOut:
    return GridAreaOut.model_validate(r.places.create_grid_area(body.name, body.dso_org_id))


@router.get("/{area_id}", response_model=GridAreaOut)
def get_grid_area(area_id: DbId, r: Using) -> GridAreaOut:
    return GridAreaOut.model_validate(r.places.get_grid_area(area_id))


@router.get("/{area_id}/congestion-points", response_model=list[CongestionPointOut])
def list_congestion_points(area_id: DbId, r: Using) -> list[CongestionPointOut]:
    return [CongestionPointOut.model_validate(c) for c in r.places.list_congestion_points(area_id)]


@router.post(
    "/{area_id}/congestion-points", response_model=CongestionPointOut, status_code=status.HTTP_201_CREATED
)
def create_congestion_point(area_id: DbId, body: CongestionPointIn, r: Using) -> CongestionPointOut:
    return CongestionPointOut.model_validate(r.places.create_congestion_point(area_id, body.name))

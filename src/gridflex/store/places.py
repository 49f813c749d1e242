"""Grid areas (owned by a DSO) and their congestion points: the places of local flexibility."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridflex.store.errors import ConflictError, NotFoundError, PermissionDeniedError
from gridflex.store.tables import CongestionPoint, GridArea, OrgRole, Role
from gridflex.store.tenancy import Principal, require_role

__all__ = ["Places"]


class Places:
    """Readable by every caller (market information); written by the owning DSO or the admin."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def create_grid_area(self, name: str, dso_org_id: int | None = None) -> GridArea:
        require_role(self.p, Role.DSO, action="creating a grid area")
        owner = self.p.org_id if dso_org_id is None else dso_org_id
        if owner != self.p.org_id and not self.p.is_admin:
            raise PermissionDeniedError("a DSO creates grid areas for itself only")
        is_dso = self.s.scalar(
            select(OrgRole.org_id).where(OrgRole.org_id == owner, OrgRole.role == Role.DSO.value)
        )
        if is_dso is None:
            raise ConflictError(f"organisation {owner} is not a DSO")
        if self.s.scalar(select(GridArea.id).where(GridArea.name == name)) is not None:
            raise ConflictError(f"a grid area named {name!r} exists")
        area = GridArea(name=name, dso_org_id=owner)
        self.s.add(area)
        self.s.flush()
        return area

    def list_grid_areas(self) -> list[GridArea]:
        return list(self.s.scalars(select(GridArea).order_by(GridArea.id)))

    def get_grid_area(self, area_id: int) -> GridArea:
        area = self.s.get(GridArea, area_id)
        if area is None:
            raise NotFoundError(f"grid area {area_id} not found")
        return area

    def create_congestion_point(self, area_id: int, name: str) -> CongestionPoint:
        area = self.get_grid_area(area_id)
        if area.dso_org_id != self.p.org_id and not self.p.is_admin:
            raise PermissionDeniedError(f"grid area {area_id} belongs to another DSO")
        if self.s.scalar(select(CongestionPoint.id).where(CongestionPoint.name == name)) is not None:
            raise ConflictError(f"a congestion point named {name!r} exists")
        cp = CongestionPoint(name=name, grid_area_id=area_id)
        self.s.add(cp)
        self.s.flush()
        return cp

    def list_congestion_points(self, area_id: int | None = None) -> list[CongestionPoint]:
        q = select(CongestionPoint).order_by(CongestionPoint.id)
        if area_id is not None:
            self.get_grid_area(area_id)
            q = q.where(CongestionPoint.grid_area_id == area_id)
        return list(self.s.scalars(q))

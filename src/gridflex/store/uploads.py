"""Uploaded documents a participant works on with jobs: site files (and, by ``kind``, other
documents). Each belongs to one organisation: only it (and the admin) sees it; what a caller may
not see is not found (404), as everywhere in the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridflex.store.errors import NotFoundError
from gridflex.store.tables import UploadRow
from gridflex.store.tenancy import Principal, uploads_visible

__all__ = ["FLEXOFFERS", "SITE", "STUDY", "UploadRow", "Uploads", "uploads_visible"]

SITE = "site"
FLEXOFFERS = "flexoffers"
STUDY = "study"  # an evaluation study file (gridflex.grid.study)


class Uploads:
    """Documents of ``kind`` as ``principal`` may see and add them."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def create(self, kind: str, name: str, body: dict[str, Any], summary: dict[str, Any]) -> UploadRow:
        row = UploadRow(kind=kind, org_id=self.p.org_id, name=name, body=body, summary=summary)
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, kind: str, upload_id: int) -> UploadRow:
        row = self.s.scalar(
            select(UploadRow).where(
                UploadRow.id == upload_id, UploadRow.kind == kind, uploads_visible(self.p)
            )
        )
        if row is None:
            raise NotFoundError(f"{kind} {upload_id} not found")
        return row

    def list(self, kind: str, limit: int = 100, after_id: int = 0) -> list[UploadRow]:
        q = select(UploadRow).where(UploadRow.kind == kind, UploadRow.id > after_id, uploads_visible(self.p))
        return list(self.s.scalars(q.order_by(UploadRow.id).limit(limit)))

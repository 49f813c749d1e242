"""Files a job produced (a study's HTML report, its CSV and JSON outputs), kept gzip-compressed next
to the job. Too large for the job's ``result`` (a report embeds plotly.js: about 4.7 MB, 1.4 MB
compressed). Who may read a file is who may read its job: :class:`gridflex.store.jobs.Jobs` decides.
"""

from __future__ import annotations

import gzip

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridflex.store.errors import NotFoundError
from gridflex.store.jobs import Jobs
from gridflex.store.tables import JobFileRow
from gridflex.store.tenancy import Principal

__all__ = ["JobFileRow", "JobFiles", "attach_file"]


def attach_file(session: Session, job_id: int, name: str, media_type: str, data: bytes) -> None:
    """Keep ``data`` as file ``name`` of job ``job_id`` (the worker's side: no principal)."""
    packed = gzip.compress(data, compresslevel=6, mtime=0)
    session.add(JobFileRow(job_id=job_id, name=name, media_type=media_type, size=len(data), content=packed))


class JobFiles:
    """The files of the jobs ``principal`` may see."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def names(self, job_id: int) -> list[str]:
        Jobs(self.s, self.p).get(job_id)  # 404 unless the caller sees the job
        return list(
            self.s.scalars(select(JobFileRow.name).where(JobFileRow.job_id == job_id).order_by(JobFileRow.id))
        )

    def get(self, job_id: int, name: str) -> JobFileRow:
        """The file (``content`` still compressed); 404 when the job or the file is not there."""
        Jobs(self.s, self.p).get(job_id)
        row = self.s.scalar(select(JobFileRow).where(JobFileRow.job_id == job_id, JobFileRow.name == name))
        if row is None:
            raise NotFoundError(f"job {job_id} has no file {name!r}")
        return row

"""Connection points and their meter readings, and the audit trail of the settlement's inputs.

A connection point (an EAN) belongs to the flexibility provider whose site it is (an aggregator or a
prosumer); it may sit behind one of a DSO's congestion points and in one BRP's perimeter, and an
aggregator's may name the prosumer whose site it is (its customer, paid for its part of the
activations: :mod:`gridflex.store.settling`). Readings are
average power in kW per ISP (positive = consumption, negative = production), keyed by connection
point and ISP start: uploading the same values again changes nothing (idempotent); a different value
for a stored ISP is a *correction*: the reading takes the new value, its ``revision`` goes up, and the
audit trail keeps the old and the new value.

Who sees what (as :mod:`gridflex.store.tenancy`): a connection point and its readings are seen by its
owner, its prosumer, the DSO of its congestion point, its BRP, the market operator and the admin. The owner and that
DSO (the meter operator in most grids) upload readings; anything else is not found (404) or forbidden
(403).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from gridflex.errors import DataError, Problem, ValidationError
from gridflex.market.baselines import read_meter_csv
from gridflex.store.columns import utcnow
from gridflex.store.errors import ConflictError, NotFoundError, PermissionDeniedError
from gridflex.store.tables import AuditRow, CongestionPoint, ConnectionPointRow, MeterReadingRow, Role
from gridflex.store.tenancy import (
    TRADING_ROLES,
    Principal,
    audit_visible,
    points_visible,
    readings_writable,
    require_role,
)

__all__ = [
    "ISP_LENGTHS_S",
    "AuditRow",
    "ConnectionPointRow",
    "MeterReadingRow",
    "Metering",
    "Readings",
    "Uploaded",
    "audit",
    "audit_visible",
    "points_visible",
]

ISP_LENGTHS_S = (900, 1800, 3600)
MAX_ABS_KW = 1e6


def audit(
    s: Session,
    p: Principal,
    action: str,
    object_type: str,
    object_id: object,
    detail: dict[str, Any] | None = None,
    subject_org_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event to the audit trail (in the caller's transaction: with the change or not at all)."""
    s.add(
        AuditRow(
            at=at or utcnow(), actor_org_id=p.org_id, actor_token_id=p.token_id, actor_user_id=p.user_id,
            subject_org_id=subject_org_id, action=action,
            object_type=object_type, object_id=str(object_id), detail=detail or {},
        )
    )  # fmt: skip


CORRECTION_HOOKS: list[Callable[[Session, ConnectionPointRow, list[datetime], datetime], None]] = []
"""Called in the upload's transaction with each connection point whose stored readings were corrected
(the ISP starts) and the time: modules above this one register what a correction sets off."""


@dataclass(frozen=True)
class Uploaded:
    """What an upload did: new ISPs stored, ISPs sent again unchanged, ISPs corrected."""

    inserted: int
    unchanged: int
    corrected: int
    connection_points: list[str]


@dataclass(frozen=True)
class Readings:
    """Readings of some connection points on one ISP grid: kW (points × ISPs), NaN where none."""

    names: list[str]
    start: datetime
    isp_s: int
    power_kw: np.ndarray


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError("meter readings", [Problem("meter readings", field, message)])


class Metering:
    """Connection points and meter readings as ``principal`` may see and change them."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    # -- connection points
    def create_point(
        self, name: str, congestion_point: str | None = None, brp_org_id: int | None = None,
        prosumer_org_id: int | None = None,
    ) -> ConnectionPointRow:  # fmt: skip
        """A connection point of the caller (a provider: aggregator or prosumer, any trading role);
        an aggregator's may name the prosumer whose site it is."""
        require_role(self.p, *TRADING_ROLES, action="registering a connection point")
        if self.s.scalar(select(ConnectionPointRow.id).where(ConnectionPointRow.name == name)) is not None:
            raise ConflictError(f"a connection point named {name!r} exists")
        cp_id = None
        if congestion_point is not None:
            cp_id = self.s.scalar(select(CongestionPoint.id).where(CongestionPoint.name == congestion_point))
            if cp_id is None:
                raise ValidationError(
                    "connection point",
                    [Problem("connection point", "congestion_point", f"unknown congestion point {congestion_point!r}")],
                )  # fmt: skip
        if brp_org_id is not None:
            from gridflex.store.tables import OrgRole

            is_brp = self.s.scalar(
                select(OrgRole.org_id).where(OrgRole.org_id == brp_org_id, OrgRole.role == Role.BRP.value)
            )
            if is_brp is None:
                raise ValidationError(
                    "connection point",
                    [Problem("connection point", "brp_org_id", f"organisation {brp_org_id} is not a BRP")],
                )
        if prosumer_org_id is not None:
            self._check_prosumer(prosumer_org_id)
        row = ConnectionPointRow(
            name=name, owner_org_id=self.p.org_id, congestion_point_id=cp_id, brp_org_id=brp_org_id,
            prosumer_org_id=prosumer_org_id,
        )  # fmt: skip
        self.s.add(row)
        self.s.flush()
        audit(self.s, self.p, "connection_point.created", "connection_point", name, subject_org_id=brp_org_id)
        return row

    def _check_prosumer(self, org_id: int) -> None:
        from gridflex.store.tables import OrgRole

        problems = []
        if Role.AGGREGATOR not in self.p.roles and not self.p.is_admin:
            problems.append("only an aggregator's connection point names a prosumer")
        elif org_id == self.p.org_id:
            problems.append("the prosumer is the aggregator's customer, not the aggregator")
        elif (
            self.s.scalar(
                select(OrgRole.org_id).where(OrgRole.org_id == org_id, OrgRole.role == Role.PROSUMER.value)
            )
            is None
        ):
            problems.append(f"organisation {org_id} is not a prosumer")
        if problems:
            raise ValidationError(
                "connection point", [Problem("connection point", "prosumer_org_id", problems[0])]
            )

    def points(self) -> list[ConnectionPointRow]:
        q = select(ConnectionPointRow).where(points_visible(self.p)).order_by(ConnectionPointRow.id)
        return list(self.s.scalars(q.limit(10_000)))

    def latest_reading(self) -> tuple[datetime, int] | None:
        """The start and ISP length of the latest reading of a visible point (None: no reading)."""
        row = self.s.execute(
            select(MeterReadingRow.period_start, MeterReadingRow.isp_s)
            .join(ConnectionPointRow, ConnectionPointRow.id == MeterReadingRow.connection_point_id)
            .where(points_visible(self.p))
            .order_by(MeterReadingRow.period_start.desc())
            .limit(1)
        ).first()
        return None if row is None else (row[0], row[1])

    def point(self, name: str) -> ConnectionPointRow:
        row = self.s.scalar(
            select(ConnectionPointRow).where(ConnectionPointRow.name == name, points_visible(self.p))
        )
        if row is None:
            raise NotFoundError(f"connection point {name!r} not found")
        return row

    def congestion_point_name(self, row: ConnectionPointRow) -> str | None:
        return self.congestion_point_names([row])[row.id]

    def congestion_point_names(self, rows: list[ConnectionPointRow]) -> dict[int, str | None]:
        """The congestion point (market information: a name) of each connection point, by its id:
        one query for a listing."""
        ids = {r.congestion_point_id for r in rows} - {None}
        q = select(CongestionPoint.id, CongestionPoint.name).where(CongestionPoint.id.in_(ids))
        names = dict(self.s.execute(q).all()) if ids else {}
        return {r.id: None if r.congestion_point_id is None else names[r.congestion_point_id] for r in rows}

    def _may_upload(self, row: ConnectionPointRow) -> bool:
        if self.p.is_admin or row.owner_org_id == self.p.org_id:
            return True
        mine = select(ConnectionPointRow.id).where(ConnectionPointRow.id == row.id, readings_writable(self.p))
        return self.s.scalar(mine) is not None

    # -- readings
    def upload_csv(self, text: str, now: datetime | None = None) -> Uploaded:
        """A meter CSV (``time_utc``, then one column of kW per connection point; an empty cell: no
        reading). Bad rows are refused naming the line and the column."""
        try:
            data = read_meter_csv(io.StringIO(text), name="meter CSV")
        except DataError as exc:
            raise _invalid("csv", str(exc)) from None
        if data.grid.step_s not in ISP_LENGTHS_S:
            raise _invalid("csv", f"meter CSV: the step is {data.grid.step_s} s, not one of {ISP_LENGTHS_S}")
        series = [
            (
                name,
                data.grid.start.to_pydatetime(),
                data.grid.step_s,
                data.kw[i],
                f"csv.{name}",
                "csv.time_utc",
            )
            for i, name in enumerate(data.meter_ids)
        ]
        return self._store(series, now)

    def upload(
        self, series: list[tuple[str, datetime, int, list[float | None]]], now: datetime | None = None
    ) -> Uploaded:
        """Readings as (connection point, start of the first ISP, ISP length s, kW per ISP; None: none)."""
        rows = [
            (name, start, isp_s, np.array([np.nan if v is None else v for v in kw], dtype=float),
             f"readings.{k}.power_kw", f"readings.{k}.start")
            for k, (name, start, isp_s, kw) in enumerate(series)
        ]  # fmt: skip
        return self._store(rows, now)

    def _store(
        self, series: list[tuple[str, datetime, int, np.ndarray, str, str]], now: datetime | None
    ) -> Uploaded:
        """Check every series (values, ISP grid, connection point, the right to upload), then store
        them; each names where its values and its start are in the request, for the 422."""
        now = now or utcnow()
        problems: list[Problem] = []
        points: dict[str, ConnectionPointRow] = {}
        for name, start, isp_s, kw, where, at in series:
            bad = np.flatnonzero(np.isinf(kw) | (np.abs(np.nan_to_num(kw)) > MAX_ABS_KW))
            if len(bad):
                problems.append(Problem("meter readings", f"{where}.{int(bad[0])}", f"not a power within ±{MAX_ABS_KW:g} kW"))  # fmt: skip
            if start.timestamp() % isp_s:
                problems.append(Problem("meter readings", at, f"not on the {isp_s} s ISP grid (UTC)"))  # fmt: skip
            if name not in points:
                try:
                    points[name] = self.point(name)
                except NotFoundError:
                    problems.append(
                        Problem(
                            "meter readings",
                            where.replace("power_kw", "connection_point"),
                            f"unknown connection point {name!r}",
                        )
                    )
                    continue
            if not self._may_upload(points[name]):
                raise PermissionDeniedError(f"readings of connection point {name!r} are uploaded by its owner or its DSO")  # fmt: skip
        if problems:
            raise ValidationError("meter readings", problems)
        inserted = unchanged = corrected = 0
        for name, start, isp_s, kw, where, _ in series:
            point = points[name]
            other = self.s.scalar(
                select(MeterReadingRow.isp_s)
                .where(MeterReadingRow.connection_point_id == point.id, MeterReadingRow.isp_s != isp_s)
                .limit(1)
            )
            if other is not None:
                raise _invalid(where.replace("power_kw", "isp_s"), f"connection point {name!r} is metered per {other} s, not {isp_s} s")  # fmt: skip
            t0 = int(start.timestamp())
            keep = np.flatnonzero(np.isfinite(kw))
            if not len(keep):
                continue
            times = [datetime.fromtimestamp(t0 + int(k) * isp_s, UTC) for k in keep]
            stored = dict(
                self.s.execute(
                    select(MeterReadingRow.period_start, MeterReadingRow.power_kw).where(
                        MeterReadingRow.connection_point_id == point.id,
                        MeterReadingRow.period_start >= times[0],
                        MeterReadingRow.period_start <= times[-1],
                    )
                ).all()
            )
            new, changed = [], []
            for t, k in zip(times, keep, strict=True):
                value = float(kw[k])
                old = stored.get(t)
                if old is None:
                    new.append({"connection_point_id": point.id, "period_start": t, "isp_s": isp_s,
                                "power_kw": value, "revision": 0, "uploaded_by_org_id": self.p.org_id,
                                "uploaded_at": now})  # fmt: skip
                elif abs(old - value) > 1e-9 * max(1.0, abs(old)):
                    changed.append((t, old, value))
            if new:
                self.s.execute(insert(MeterReadingRow), new)
            for t, _old, value in changed:
                self.s.execute(
                    update(MeterReadingRow)
                    .where(MeterReadingRow.connection_point_id == point.id, MeterReadingRow.period_start == t)
                    .values(power_kw=value, revision=MeterReadingRow.revision + 1,
                            uploaded_by_org_id=self.p.org_id, uploaded_at=now)
                )  # fmt: skip
            if changed:
                for hook in CORRECTION_HOOKS:  # e.g. re-settle a disputed settlement (store.settling)
                    hook(self.s, point, [c[0] for c in changed], now)
                audit(self.s, self.p, "meter_readings.corrected", "connection_point", name, at=now,
                      subject_org_id=point.owner_org_id,
                      detail={"corrections": [{"period_start": t.isoformat(), "old_kw": o, "new_kw": v}
                                              for t, o, v in changed[:1000]], "n": len(changed)})  # fmt: skip
            inserted, corrected = inserted + len(new), corrected + len(changed)
            unchanged += len(keep) - len(new) - len(changed)
        return Uploaded(inserted, unchanged, corrected, sorted(points))

    def readings(self, names: list[str], start: datetime, end: datetime, isp_s: int) -> Readings:
        """kW of ``names`` on the ISPs of ``[start, end)``, NaN where nothing was uploaded (one
        query for the points, one for their readings: a settlement loads hundreds at once)."""
        found = dict(
            self.s.execute(
                select(ConnectionPointRow.name, ConnectionPointRow.id).where(
                    ConnectionPointRow.name.in_(names), points_visible(self.p)
                )
            ).all()
        )
        missing = [n for n in names if n not in found]
        if missing:
            raise NotFoundError(f"connection point {missing[0]!r} not found")
        row_of = {found[n]: i for i, n in enumerate(names)}
        n = int((end - start).total_seconds() // isp_s)
        out = np.full((len(names), n), np.nan)
        rows = self.s.execute(
            select(
                MeterReadingRow.connection_point_id, MeterReadingRow.period_start, MeterReadingRow.power_kw,
                MeterReadingRow.isp_s,
            ).where(
                MeterReadingRow.connection_point_id.in_(list(row_of)),
                MeterReadingRow.period_start >= start,
                MeterReadingRow.period_start < end,
            )
        ).all()  # fmt: skip
        if rows:
            cp, t, kw, step = zip(*rows, strict=True)
            bad = next((k for k, v in enumerate(step) if v != isp_s), None)
            if bad is not None:
                name = names[row_of[cp[bad]]]
                raise ConflictError(f"connection point {name!r} is metered per {step[bad]} s, not {isp_s} s")
            t0 = start.timestamp()
            cols = ((np.array([x.timestamp() for x in t]) - t0) // isp_s).astype(np.int64)
            out[np.array([row_of[c] for c in cp]), cols] = kw
        return Readings(names, start, isp_s, out)

    def audit_trail(
        self, object_type: str | None = None, limit: int = 100, after_id: int = 0
    ) -> list[AuditRow]:
        q = select(AuditRow).where(audit_visible(self.p), AuditRow.id > after_id)
        if object_type is not None:
            q = q.where(AuditRow.object_type == object_type)
        return list(self.s.scalars(q.order_by(AuditRow.id).limit(limit)))

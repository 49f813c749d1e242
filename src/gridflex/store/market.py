"""Products, orders and clearing runs: the market engine (`gridflex.market`) on the stored book.

Orders are validated by the engine's own models and screening (:func:`gridflex.market.orders.screen_orders`)
when they arrive: a bad one is stored as ``rejected`` with the engine's reason. Clearing loads the
active orders of one product, runs :func:`gridflex.market.clear_auction` and writes the run, its trades
and every order's new status in the caller's one transaction: all of it or nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import pydantic
from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridflex.errors import Problem, ValidationError
from gridflex.market import (
    AuctionResult,
    Order,
    OrderArrays,
    OrderStatus,
    Product,
    ProductKind,
    clear_auction,
)
from gridflex.market.orders import NO_TIME, screen_orders
from gridflex.store.columns import utcnow
from gridflex.store.errors import ConflictError, NotFoundError, PermissionDeniedError, StoreError
from gridflex.store.tables import ClearingRun, IdempotencyKey, OrderRow, ProductRow, Role, TradeRow
from gridflex.store.tenancy import TRADING_ROLES, Principal, orders_visible, require_role, trades_visible
from gridflex.store.webhooks import enqueue_trades

__all__ = [
    "OPEN_STATUSES",
    "Book",
    "Clearing",
    "Orders",
    "Products",
    "Submission",
    "Submitted",
    "clear_book",
    "problems_of",
    "submit_orders",
]

OPEN_STATUSES = (OrderStatus.ACTIVE.value, OrderStatus.PARTIALLY_FILLED.value)
# The service clears uniform-price auctions today; the other mechanisms get their own repositories.
SERVED_KINDS = (ProductKind.ENERGY_AUCTION,)


def problems_of(exc: pydantic.ValidationError, object_id: str) -> list[Problem]:
    """pydantic's errors as the house's structured problems (field path, message)."""
    return [
        Problem(object_id, ".".join(str(x) for x in e["loc"]), e["msg"])
        for e in exc.errors(include_url=False)
    ]


def product_of(row: ProductRow) -> Product:
    return Product.model_validate(row.spec)


class Products:
    """Readable by every caller; created by the market operator."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def create(self, product: Product) -> ProductRow:
        require_role(self.p, Role.MARKET_OPERATOR, action="creating a product")
        if product.kind not in SERVED_KINDS:
            raise ValidationError(
                "product",
                [
                    Problem(
                        product.product_id,
                        "kind",
                        f"the service clears {', '.join(SERVED_KINDS)} products only (so far)",
                    )
                ],
            )
        if self.s.get(ProductRow, product.product_id) is not None:
            raise ConflictError(f"product {product.product_id!r} exists")
        row = ProductRow(
            product_id=product.product_id, kind=product.kind.value, spec=product.model_dump(mode="json")
        )
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, product_id: str) -> ProductRow:
        row = self.s.get(ProductRow, product_id)
        if row is None:
            raise NotFoundError(f"product {product_id!r} not found")
        return row

    def list(self) -> list[ProductRow]:
        return list(self.s.scalars(select(ProductRow).order_by(ProductRow.created_at, ProductRow.product_id)))


@dataclass(frozen=True)
class Submitted:
    order: Any  # the stored order's columns (a Row, read like an OrderRow)
    replayed: bool  # True: the Idempotency-Key was seen before, this is the order it created


@dataclass(frozen=True)
class Submission:
    """One order submission: ``fields`` are :class:`gridflex.market.Order`'s but ``order_id`` and
    ``participant`` (the store gives them), plus an optional ``client_ref``."""

    principal: Principal
    fields: Mapping[str, Any]
    idempotency_key: str | None = None
    now: datetime | None = None


_ORDER_COLUMNS = tuple(OrderRow.__table__.c)
_orders = cast(Table, OrderRow.__table__)
_keys = cast(Table, IdempotencyKey.__table__)
# Constant Core statements (on the tables, not the ORM classes): compiled once, then cache hits.
# One executemany per batch ("insertmanyvalues": multi-row INSERTs), rows back in parameter order.
# SQLite: SQLAlchemy would insert row by row to keep that order; there, the batch holds the write
# lock and one INSERT numbers its rows in VALUES order, so sorting by id restores it.
_INSERT_ORDERS = insert(_orders).returning(*_ORDER_COLUMNS, sort_by_parameter_order=True)
_INSERT_ORDERS_SQLITE = insert(_orders).returning(*_ORDER_COLUMNS)
_INSERT_KEYS = insert(_keys)
# The orders made under a batch's keys: both columns of the unique index as IN lists (on a row-value
# ``(org_id, key) IN`` SQLite scans the table); pairs of another org are dropped afterwards.
_KEYS_SEEN = (
    select(*_ORDER_COLUMNS, _keys.c.org_id.label("key_org_id"), _keys.c.key.label("key_name"),
           _keys.c.request_hash.label("key_hash"))
    .join_from(_keys, _orders, _orders.c.id == _keys.c.resource_id)
    .where(_keys.c.org_id.in_(bindparam("orgs", expanding=True)),
           _keys.c.key.in_(bindparam("keys", expanding=True)))
)  # fmt: skip
_PRODUCT_STATE = select(ProductRow.created_at, ProductRow.cleared_at).where(
    ProductRow.product_id == bindparam("product_id")
)
_PRODUCTS: dict[tuple[str, str, datetime], Product] = {}  # parsed product models; products never change
_REFUSALS = (StoreError, ValidationError)  # a submission's own fault: it alone fails (4xx)
_KEY_REUSED = "this key was used before with a different body"


def _request_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def submit_orders(
    session: Session, submissions: Sequence[Submission], savepoint: bool = True
) -> list[Submitted | Exception]:
    """Screen and store a batch of orders in the session's transaction; for each submission, in
    order, its :class:`Submitted` or its refusal (a :class:`ValidationError` or :class:`StoreError`,
    returned, not raised: it fails alone, nothing of it is written). A rule of the product broken
    stores a ``rejected`` order with its reason.

    The hot path of the service (ADR 0025): one query for the batch's Idempotency-Keys seen before,
    one screening per product, one executemany for the orders and one for the new keys. A key twice
    in the batch is answered as if the submissions came one after the other: the second replays the
    first's order (or is refused when its body differs).

    ``savepoint=False``: no savepoint; a twin in another transaction that commits its key first fails
    the whole transaction (the group commit then runs each submission alone, with its savepoint)."""
    out: list[Submitted | Exception | None] = [None] * len(submissions)
    db = session.connection()  # Core on the connection: none of the ORM's per-statement work
    seen = _keys_seen(db, submissions)
    claimed: dict[tuple[int, str], tuple[str, int]] = {}  # key -> (request hash, index of the new order)
    twins: list[tuple[int, int]] = []  # (replaying submission, submission whose new order it returns)
    new: list[int] = []  # submissions that make an order, in insert order
    orders: dict[int, tuple[Order, str, datetime, str | None]] = {}
    by_product: dict[str, list[int]] = {}
    for i, sub in enumerate(submissions):
        try:
            p = sub.principal
            require_role(p, *TRADING_ROLES, action="submitting an order")
            fields, key = dict(sub.fields), sub.idempotency_key
            request_hash = None
            if key is not None:
                request_hash = _request_hash(fields)
                before = seen.get((p.org_id, key))
                if before is not None:
                    _same_body(before.key_hash, request_hash)
                    out[i] = Submitted(before, True)
                    continue
                first = claimed.get((p.org_id, key))
                if first is not None:
                    _same_body(first[0], request_hash)
                    twins.append((i, first[1]))
                    continue
            now = sub.now or utcnow()
            client_ref = str(fields.pop("client_ref", None) or "")
            product_id = str(fields.get("product", ""))
            _product(session, product_id)  # 422 naming ``product`` before the model's own errors
            try:
                order = Order.model_validate(
                    fields | {"order_id": str(i), "participant": str(p.org_id), "submitted_at": now}
                )
            except pydantic.ValidationError as exc:
                raise ValidationError("order", problems_of(exc, "order")) from None
        except _REFUSALS as exc:
            out[i] = exc
            continue
        if key is not None:
            claimed[(p.org_id, key)] = (str(request_hash), i)
        new.append(i)
        orders[i] = (order, client_ref, now, request_hash)
        by_product.setdefault(order.product, []).append(i)
    values = {}
    for product_id, idx in by_product.items():
        product, cleared = _product(session, product_id)
        ok, reason = screen_orders(
            OrderArrays.from_orders([orders[i][0] for i in idx]), [product], kinds=SERVED_KINDS
        )
        for i, good, why in zip(idx, ok.tolist(), reason.tolist(), strict=True):
            if good and cleared:
                good, why = False, "the product has been cleared"
            order, client_ref, now, _ = orders[i]
            values[i] = dict(
                participant_org_id=submissions[i].principal.org_id, product_id=order.product, place=order.place,
                isp=order.isp, side=order.side.value, quantity_mw=order.quantity_mw,
                price_eur_per_mwh=order.price_eur_per_mwh, execution=order.execution.value,
                status=(OrderStatus.ACTIVE if good else OrderStatus.REJECTED).value, reason=str(why),
                accepted_mw=0.0, client_ref=client_ref, submitted_at=now, updated_at=now,
            )  # fmt: skip
    if new:
        keyed = any(orders[i][3] is not None for i in new)
        if not keyed or not savepoint or db.dialect.name == "sqlite":
            # SQLite: every transaction here holds the write lock from its start (BEGIN IMMEDIATE),
            # so no twin can commit a key between the check above and these inserts: no savepoint.
            _insert(db, submissions, new, values, orders, out)
        else:
            try:
                with session.begin_nested():  # a concurrent twin commits its key first: return its order
                    _insert(session.connection(), submissions, new, values, orders, out)
            except IntegrityError:
                if len(new) > 1:  # the caller runs them one by one
                    raise
                i = new[0]
                before = _keys_seen(db, [submissions[i]]).get(
                    (submissions[i].principal.org_id, str(submissions[i].idempotency_key))
                )
                if before is None:  # not a twin's key: another constraint broken
                    raise
                try:
                    _same_body(before.key_hash, str(orders[i][3]))
                    out[i] = Submitted(before, True)
                except ValidationError as exc:
                    out[i] = exc
    for i, j in twins:
        got = out[j]
        out[i] = Submitted(got.order, True) if isinstance(got, Submitted) else got
    return cast(list[Submitted | Exception], out)


def _insert(
    db: Any,
    submissions: Sequence[Submission],
    new: list[int],
    values: dict[int, dict[str, Any]],
    orders: dict[int, tuple[Order, str, datetime, str | None]],
    out: list[Any],
) -> None:
    """The batch's new orders (one executemany, rows in submission order) and their keys (one more)."""
    if db.dialect.name == "sqlite":
        rows = sorted(db.execute(_INSERT_ORDERS_SQLITE, [values[i] for i in new]).all(), key=lambda r: r.id)
    else:
        rows = db.execute(_INSERT_ORDERS, [values[i] for i in new]).all()
    key_rows = []
    for i, row in zip(new, rows, strict=True):
        out[i] = Submitted(row, False)
        key, request_hash, now = submissions[i].idempotency_key, orders[i][3], orders[i][2]
        if key is not None:
            key_rows.append(dict(org_id=submissions[i].principal.org_id, key=key, request_hash=request_hash,
                                 resource="order", resource_id=row.id, created_at=now))  # fmt: skip
    if key_rows:
        db.execute(_INSERT_KEYS, key_rows)


def _keys_seen(db: Any, submissions: Sequence[Submission]) -> dict[tuple[int, str], Any]:
    """The orders made before under the submissions' Idempotency-Keys (one query), by (org, key)."""
    keys = {(s.principal.org_id, s.idempotency_key) for s in submissions if s.idempotency_key is not None}
    if not keys:
        return {}
    orgs, names = {o for o, _ in keys}, {k for _, k in keys}
    rows = db.execute(_KEYS_SEEN, {"orgs": list(orgs), "keys": list(names)})
    return {k: r for r in rows if (k := (r.key_org_id, r.key_name)) in keys}


def _same_body(first_hash: str, request_hash: str) -> None:
    if first_hash != request_hash:
        raise ValidationError("request", [Problem("request", "Idempotency-Key", _KEY_REUSED)])


def _product(session: Session, product_id: str) -> tuple[Product, bool]:
    """The product's model (parsed once per process: a product never changes) and whether it has
    been cleared; 422 naming ``product`` when there is none."""
    states = session.info.setdefault("gridflex.product_state", {})  # read once per transaction
    got = states.get(product_id)
    if got is None:
        got = session.connection().execute(_PRODUCT_STATE, {"product_id": product_id}).one_or_none()
    if got is None:
        raise ValidationError("order", [Problem("order", "product", f"unknown product {product_id!r}")])
    key = (str(session.get_bind().engine.url), product_id, got.created_at)
    product = _PRODUCTS.get(key)
    if product is None:
        product = product_of(session.get_one(ProductRow, product_id))
        if len(_PRODUCTS) > 10_000:
            _PRODUCTS.clear()
        _PRODUCTS[key] = product
    states[product_id] = got
    return product, got.cleared_at is not None


class Orders:
    """The caller's orders (and, for a DSO, those at its congestion points; for the operator, all)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def submit(
        self,
        fields: Mapping[str, Any],
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> Submitted:
        """Screen and store one order (:func:`submit_orders`); a refusal is raised."""
        got = submit_orders(self.s, [Submission(self.p, fields, idempotency_key, now)])[0]
        if isinstance(got, Exception):
            raise got
        return got

    def get(self, order_id: int) -> OrderRow:
        row = self.s.scalar(select(OrderRow).where(OrderRow.id == order_id, orders_visible(self.p)))
        if row is None:
            raise NotFoundError(f"order {order_id} not found")
        return row

    def list(
        self, product_id: str | None = None, status: str | None = None, limit: int = 100, after_id: int = 0
    ) -> list[OrderRow]:
        q = select(OrderRow).where(orders_visible(self.p), OrderRow.id > after_id)
        if product_id is not None:
            q = q.where(OrderRow.product_id == product_id)
        if status is not None:
            q = q.where(OrderRow.status == status)
        return list(self.s.scalars(q.order_by(OrderRow.id).limit(limit)))

    def cancel(self, order_id: int, now: datetime | None = None) -> OrderRow:
        row = self.get(order_id)
        if row.participant_org_id != self.p.org_id and not self.p.is_admin:
            raise PermissionDeniedError(f"order {order_id} is not yours to cancel")
        if row.status not in OPEN_STATUSES:
            raise ConflictError(f"order {order_id} is {row.status}, not active")
        now = now or utcnow()
        gate = product_of(self.s.get_one(ProductRow, row.product_id)).gate_closure
        if gate is not None and now >= gate:  # the book is frozen for the clearing: orders are final
            raise ConflictError(f"order {order_id} is final: the gate closed at {gate.isoformat()}")
        row.status, row.reason, row.updated_at = (
            OrderStatus.CANCELLED.value,
            "cancelled by the participant",
            now,
        )
        self.s.flush()
        return row


class Clearing:
    """Clearing runs (the market operator) and the trades they made (tenancy as for orders)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def run(self, product_id: str, now: datetime | None = None) -> ClearingRun:
        """Clear the product's active orders once. Everything is written in the caller's transaction."""
        require_role(self.p, Role.MARKET_OPERATOR, action="running a clearing")
        now = now or utcnow()
        prod_row = self.lock_product(product_id, now)
        rows = self.load_book(product_id)
        return self.persist(prod_row, rows, clear_book(product_of(prod_row), rows), now)

    def lock_product(self, product_id: str, now: datetime) -> ProductRow:
        """The product, locked for this transaction; 404 unknown, 409 cleared or its gate still open."""
        prod_row = self.s.scalar(
            select(ProductRow).where(ProductRow.product_id == product_id).with_for_update()
        )  # PostgreSQL: a second run of the same product waits here, then sees cleared_at
        if prod_row is None:
            raise NotFoundError(f"product {product_id!r} not found")
        if prod_row.cleared_at is not None:
            raise ConflictError(f"product {product_id!r} was cleared at {prod_row.cleared_at.isoformat()}")
        product = product_of(prod_row)
        if product.gate_closure is not None and now < product.gate_closure:
            raise ConflictError(f"the gate of {product_id!r} closes at {product.gate_closure.isoformat()}")
        return prod_row

    def load_book(self, product_id: str) -> Book:
        """The product's open orders as columns (a gate closure may load 100,000): Core rows on
        the driver's cursor, submission times converted to epoch seconds by the database."""
        db = self.s.connection()
        if db.dialect.name == "postgresql":
            mark, epoch = "%s", "CAST(floor(extract(epoch FROM submitted_at)) AS BIGINT)"
        else:
            mark, epoch = "?", "CAST(strftime('%s', submitted_at) AS INTEGER)"
        # The driver's own cursor: plain tuples, none of the result machinery per row.
        cur = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(
                "SELECT id, participant_org_id, place, isp, side, quantity_mw, price_eur_per_mwh, "
                f"{epoch} FROM orders WHERE product_id = {mark} AND status IN ({mark}, {mark}) ORDER BY id",
                (product_id, *OPEN_STATUSES),
            )
            rows = cur.fetchall()
        finally:
            cur.close()
        cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 8
        return Book(
            product_id=product_id,
            id=np.array(cols[0], dtype=np.int64),
            participant_org_id=np.array(cols[1], dtype=np.int64),
            place=np.array(cols[2], dtype=str),
            isp=np.array(cols[3], dtype=np.int64),
            is_buy=np.array(cols[4], dtype=str) == "buy",
            quantity_mw=np.array(cols[5], dtype=float),
            price_eur_per_mwh=np.array(cols[6], dtype=float),  # NULL (a market order): NaN
            submitted_s=np.array([NO_TIME if t is None else t for t in cols[7]], dtype=np.int64),
        )

    def book_unchanged(self, book: Book) -> bool:
        """Whether the product's open orders are still exactly ``book``'s. New orders get ids above
        every stored one, so count, sum and maximum of the ids tell any change (order arrived,
        cancelled) without reading the book again."""
        c = _orders.c
        n, total, top = (
            self.s.connection()
            .execute(
                select(func.count(), func.coalesce(func.sum(c.id), 0), func.coalesce(func.max(c.id), 0)).where(
                    c.product_id == book.product_id, c.status.in_(OPEN_STATUSES)
                )
            )
            .one()
        )  # fmt: skip
        ids = book.id
        return (n, total, top) == (len(ids), int(ids.sum()), int(ids.max()) if len(ids) else 0)

    def persist(self, prod_row: ProductRow, book: Book, result: AuctionResult, now: datetime) -> ClearingRun:
        """Write the run, its trades, every order's outcome and the product's ``cleared_at``."""
        summary = result.to_json(orders=False)
        run = ClearingRun(
            product_id=prod_row.product_id, started_by_org_id=self.p.org_id, created_at=now,
            n_orders=len(book), welfare_eur=float(summary["welfare_eur"]), cells={"cells": summary["cells"]},
        )  # fmt: skip
        self.s.add(run)
        self.s.flush()
        trades = self._write_trades(run, book, result)
        enqueue_trades(
            self.s, run.id, prod_row.product_id, trades
        )  # the outbox: with the trades or not at all
        run.n_trades = len(trades)
        self._update_orders(book, result, now)
        prod_row.cleared_at = now
        self.s.info.pop("gridflex.product_state", None)  # Orders._product must see cleared_at
        self.s.flush()
        return run

    def _write_trades(self, run: ClearingRun, book: Book, result: AuctionResult) -> list[dict[str, Any]]:
        """Insert the run's trades in bulk (driver-level executemany; COPY on PostgreSQL)."""
        at = np.flatnonzero(result.accepted_mw > 0)
        n = len(at)
        columns = (
            [run.id] * n, book.id[at].tolist(), book.participant_org_id[at].tolist(), [book.product_id] * n,
            book.place[at].tolist(), book.isp[at].tolist(), np.where(book.is_buy[at], "buy", "sell").tolist(),
            result.accepted_mw[at].astype(float).tolist(),
            result.price_eur_per_mwh[result.order_cell[at]].astype(float).tolist(),
        )  # fmt: skip
        rows = list(zip(*columns, strict=True))
        if rows:
            db = self.s.connection()
            names = ", ".join(_TRADE_KEYS)
            if db.dialect.name == "postgresql":
                raw: Any = db.connection.driver_connection
                with raw.cursor() as cur, cur.copy(f"COPY trades ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(_TRADE_KEYS))
                db.exec_driver_sql(f"INSERT INTO trades ({names}) VALUES ({marks})", rows)
        return [dict(zip(_TRADE_KEYS, row, strict=True)) for row in rows]

    def _update_orders(self, book: Book, result: AuctionResult, now: datetime) -> None:
        """Every order's outcome: one UPDATE from arrays on PostgreSQL, executemany on SQLite."""
        if not len(book):
            return
        db = self.s.connection()
        stamp = _orders.c.updated_at.type.dialect_impl(db.dialect).bind_processor(db.dialect)
        when = stamp(now) if stamp is not None else now
        ids, status = book.id.tolist(), [str(x) for x in result.status]
        accepted = result.accepted_mw.astype(float).tolist()
        reasons = _reasons(result)
        if db.dialect.name == "postgresql":
            db.exec_driver_sql(
                "UPDATE orders AS o SET status = u.s, accepted_mw = u.a, reason = u.r, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::text[], %s::float8[], %s::text[]) AS u(id, s, a, r) "
                "WHERE o.id = u.id",
                (when, ids, status, accepted, reasons),
            )
        else:
            db.exec_driver_sql(
                "UPDATE orders SET status = ?, accepted_mw = ?, reason = ?, updated_at = ? WHERE id = ?",
                [(st, a, r, when, i) for i, st, a, r in zip(ids, status, accepted, reasons, strict=True)],
            )

    def get_run(self, run_id: int) -> ClearingRun:
        run = self.s.get(ClearingRun, run_id)  # prices and volumes are market information
        if run is None:
            raise NotFoundError(f"clearing run {run_id} not found")
        return run

    def list_runs(self, product_id: str | None = None) -> list[ClearingRun]:
        q = select(ClearingRun).order_by(ClearingRun.id)
        if product_id is not None:
            q = q.where(ClearingRun.product_id == product_id)
        return list(self.s.scalars(q))

    def list_trades(self, run_id: int | None = None, limit: int = 1000, after_id: int = 0) -> list[TradeRow]:
        q = select(TradeRow).where(trades_visible(self.p), TradeRow.id > after_id)
        if run_id is not None:
            q = q.where(TradeRow.run_id == run_id)
        return list(self.s.scalars(q.order_by(TradeRow.id).limit(limit)))


_TRADE_KEYS = ("run_id", "order_id", "participant_org_id", "product_id", "place", "isp", "side",
               "quantity_mw", "price_eur_per_mwh")  # fmt: skip


@dataclass(frozen=True)
class Book:
    """One product's open orders as columns, in id order (what a clearing loads and writes back)."""

    product_id: str
    id: np.ndarray  # int64
    participant_org_id: np.ndarray  # int64
    place: np.ndarray  # str
    isp: np.ndarray  # int64
    is_buy: np.ndarray  # bool
    quantity_mw: np.ndarray
    price_eur_per_mwh: np.ndarray  # NaN: a market order
    submitted_s: np.ndarray  # int64 epoch seconds, NO_TIME when unknown

    def __len__(self) -> int:
        return len(self.id)


def _reasons(result: AuctionResult) -> list[str]:
    """``result.reason(i)`` of every order, each distinct case worded once (500 characters at most):
    a big book repeats the same price, quantity and outcome many times."""
    o = result.orders
    keys = zip(result.valid.tolist(), o.is_buy.tolist(), o.price_eur_per_mwh.tolist(), o.quantity_mw.tolist(),
               result.accepted_mw.tolist(), result.order_cell.tolist(), strict=True)  # fmt: skip
    said: dict[tuple[Any, ...], str] = {}
    out = []
    for i, key in enumerate(keys):
        if not key[0]:  # a rejection names its own reason
            out.append(result.reason(i)[:500])
            continue
        text = said.get(key)
        if text is None:
            text = said[key] = result.reason(i)[:500]
        out.append(text)
    return out


def clear_book(product: Product, book: Book) -> AuctionResult:
    """The market engine on a loaded book (pure: runs in a worker process too)."""
    n = len(book)
    arrays = OrderArrays(
        order_id=book.id.astype(str),
        participant=book.participant_org_id.astype(str),
        product=np.repeat(np.array([product.product_id]), n),
        place=book.place.astype(str),
        is_buy=book.is_buy,
        isp=book.isp,
        quantity_mw=book.quantity_mw,
        price_eur_per_mwh=book.price_eur_per_mwh,
        submitted_s=book.submitted_s,
    )
    return clear_auction({product.product_id: product}, arrays)

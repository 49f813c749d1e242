"""Group commit: the hot writes of many concurrent requests in one transaction (ADR 0025).

A request hands its write (a request for a batch handler) to :meth:`GroupCommit.run` and awaits it.
One writer thread takes every request that is waiting, gives each handler its requests in one list
(``handler(session, requests, batched)``: the handler writes them together, e.g. one executemany),
all in one transaction, and commits once; each request is answered only after that commit, so an
acknowledged write is durable. Under load one commit (one fsync on PostgreSQL, one WAL append on
SQLite) serves dozens of requests, and the event loop hands work to one thread instead of hopping
through the thread pool per dependency.

A handler answers each request with its result or its refusal (a house error, 4xx, returned not
raised, and nothing of that request written): that request fails alone and the others commit. Any
error the handler raises (a database error) rolls the batch back; then each request runs alone
(``batched`` False), so one bad request cannot fail the others: in a batch, a handler may skip
savepoints. A busy or unreachable database fails the whole batch (503).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gridflex.store import Store
from gridflex.store.errors import StoreBusyError

__all__ = ["GroupCommit", "Handler"]

# handler(session, requests, batched): for each request, in order, its result or its refusal.
Handler = Callable[[Session, list[Any], bool], list[Any]]
_Item = tuple[Handler, Any, "asyncio.Future[Any]", asyncio.AbstractEventLoop]
IDLE_S = 2.0  # the writer thread ends after this long without work (a new one starts on demand)


class GroupCommit:
    """``await group.run(handler, request)``: the request's result once its batch committed (or its
    refusal, raised)."""

    def __init__(self, store: Store, max_batch: int = 256) -> None:
        self.store, self.max_batch = store, max_batch
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0  # committed transactions (tests and benchmarks read it)

    async def run(self, handler: Handler, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((handler, request, future, loop))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="gridflex-group-commit", daemon=True)
                self._thread.start()
        return await future

    def _serve(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=IDLE_S)]
            except queue.Empty:
                with self._lock:  # run() starts a new thread under this lock when it sees none
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for (_, _, future, loop), outcome in zip(batch, self._commit(batch, True), strict=True):
                loop.call_soon_threadsafe(_settle, future, outcome)

    def _commit(self, batch: list[_Item], batched: bool) -> list[tuple[bool, Any]]:
        """(True, result) or (False, exception) for each request, in order."""
        groups: dict[Handler, list[int]] = {}
        for i, item in enumerate(batch):
            groups.setdefault(item[0], []).append(i)
        outcomes: list[tuple[bool, Any]] = [(False, None)] * len(batch)
        try:
            with self.store.transaction() as session:
                for handler, idx in groups.items():
                    answers = handler(session, [batch[i][1] for i in idx], batched)
                    for i, answer in zip(idx, answers, strict=True):
                        outcomes[i] = (not isinstance(answer, Exception), answer)
            self.batches += 1
            return outcomes
        except (OperationalError, StoreBusyError) as exc:  # the database, not the work: all get 503
            return [(False, exc)] * len(batch)
        except Exception as exc:
            if not batched:
                return [(False, exc)]
            return [self._commit([item], False)[0] for item in batch]


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():  # the request went away (client disconnected): its write stands
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)

"""The background job runner inside `gridflex serve`: a thread claims due jobs from the store and
runs each in a process pool (the solve never blocks the API's event loop or its GIL).

Jobs are rows (:mod:`gridflex.store.jobs`), so a restart loses none: a queued job waits for its time,
a running one of a dead server is claimed again once its lease (heartbeat) expired.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Collection
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta

from gridflex.api.jobkinds import run_job, warm
from gridflex.api.studyjobs import EVALUATION, configure
from gridflex.store import Store
from gridflex.store.columns import utcnow
from gridflex.store.jobs import claim_due, fail, heartbeat, next_run_at

__all__ = ["JOB_LEASE_S", "LONG_JOBS", "JobWorker"]

log = logging.getLogger("gridflex.jobs")

JOB_LEASE_S = 30.0
"""A running job whose heartbeat is older than this is taken to be orphaned (its server died)."""
LONG_JOBS = (EVALUATION,)  # kinds that run for minutes: `gridflex serve` gives them a runner of their own
POLL_S = 0.5  # a gate closure starts its job within this (and the pool is warm)


class JobWorker:
    """``start()`` then ``stop()``: runs the due jobs of ``store`` one at a time. With ``dask`` (a
    scheduler address) an evaluation job's solves run on that cluster instead of in the pool's process."""

    def __init__(
        self,
        store: Store,
        lease_s: float = JOB_LEASE_S,
        processes: int = 1,
        dask: str | None = None,
        only: Collection[str] | None = None,
        skip: Collection[str] = (),
    ) -> None:
        self.store, self.lease_s, self.processes, self.dask = store, lease_s, processes, dask
        self.only, self.skip = only, skip  # the job kinds of this runner's lane
        self._stop = threading.Event()
        name = "gridflex-jobs" + ("-" + "-".join(only) if only else "")
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[None] | None = None

    def start(self) -> None:
        self._pool = self._new_pool()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._pool is not None:
            processes = list((self._pool._processes or {}).values())
            manager: threading.Thread | None = getattr(
                self._pool, "_executor_manager_thread", None
            )  # dropped by shutdown()
            self._pool.shutdown(wait=False, cancel_futures=True)
            # Without this the pool's processes outlive the server (orphans blocked on their queue);
            # a job still running is run again once its lease expires, as after a crash.
            for proc in processes:
                proc.terminate()
            for proc in processes:
                proc.join(timeout=5)
                if proc.is_alive():  # dead before the server closes the store: SQLite's last closer cleans up
                    proc.kill()
                    proc.join(timeout=5)
            # Python 3.11's exit hook wakes every pool's manager thread; one still closing its pipe then
            # fails with EBADF and a traceback on stderr: let it finish first.
            if manager is not None:
                manager.join(timeout=5)

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            self.processes, mp_context=ctx, initializer=configure, initargs=(self.dask,)
        )
        self._warm = pool.submit(warm, self.store.url)  # imports and connects now, not at the gate closure
        return pool

    def wait_warm(self, timeout_s: float | None = None) -> None:
        """Block until the worker process has imported and connected (a job then starts at once)."""
        if self._warm is not None:
            self._warm.result(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._claim()
                if job_id is None:
                    self._stop.wait(self._idle_s())
                    continue
                self._run(job_id)
            except Exception:  # a database hiccup: log it and try again, never end the thread
                log.exception("job runner")
                self._stop.wait(POLL_S)

    def _claim(self) -> int | None:
        with self.store.transaction() as s:
            return claim_due(s, utcnow(), self.lease_s, self.only, self.skip)

    def _idle_s(self) -> float:
        with self.store.transaction() as s:
            due = next_run_at(s, self.only, self.skip)
        if due is None:
            return POLL_S
        return min(POLL_S, max(0.0, (due - utcnow()) / timedelta(seconds=1)))

    def _run(self, job_id: int) -> None:
        assert self._pool is not None
        try:
            future: Future[int] = self._pool.submit(run_job, self.store.url, job_id)
        except BrokenProcessPool:
            self._pool = self._new_pool()
            future = self._pool.submit(run_job, self.store.url, job_id)
        while not wait([future], timeout=min(1.0, self.lease_s / 3)).done:
            if self._stop.is_set():
                return  # stopping: the lease expires and the next start runs the job again
            with self.store.transaction() as s:
                heartbeat(s, job_id, utcnow())
        try:
            future.result()
        except BrokenProcessPool:
            self._pool = self._new_pool()
            self._fail(job_id, "the worker process died; the job can be started again")
        except Exception as exc:
            log.warning("job %s failed: %s", job_id, exc)
            self._fail(job_id, f"{type(exc).__name__}: {exc}")

    def _fail(self, job_id: int, message: str) -> None:
        with self.store.transaction() as s:
            fail(s, job_id, message, utcnow())

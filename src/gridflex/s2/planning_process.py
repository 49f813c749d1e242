"""Plans in a process of its own, so model building and solving never hold the protocol loop's GIL.

:class:`PlanningProcess` starts one worker (``spawn``) holding the site and its own
:class:`~gridflex.s2.planner.WarmModel` (the warm re-solve works across plans there as in a thread).
A request goes over a pipe without its ``warm`` field; the plan comes back (both pickled in a thread, so
the loop is not held). The worker runs at a lower CPU priority (``PLANNER_NICENESS``): where cores are
short, frames are answered before plans are made. A failure comes back as
:class:`PlanningFailed` (a GridflexError with the worker's message), so the CEM treats it as any
failed plan. :meth:`PlanningProcess.close` terminates the worker, also in the middle of a solve.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gridflex.errors import GridflexError, SolverError
from gridflex.s2.planner import Plan, PlanRequest, WarmModel, plan_site


async def in_daemon_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a daemon thread of its own: unlike ``asyncio.to_thread`` the interpreter does
    not wait for it at exit, so SIGTERM during a long solve shuts the CEM down at once."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if not fut.done():
            fut.set_exception(exc) if exc is not None else fut.set_result(result)

    def work() -> None:
        try:
            result, exc = fn(*args), None
        except BaseException as e:
            result, exc = None, e
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=work, name="cem-plan", daemon=True).start()
    return await fut


class PlanningFailed(SolverError):
    """A plan failed in the planning process (its message and solver status: the worker's error's)."""


OUT_OF_TIME = "Time limit reached"
"""HiGHS' status of a solve stopped at its time limit without any solution (``SolverError.status``)."""


PLANNER_NICENESS = 5
"""How much lower the planning process's CPU priority is than the CEM's: on a machine with fewer free
cores than busy processes, the protocol loop answers frames first and the plan waits."""


def _worker(conn: Any, site: Any) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not where priorities cannot be changed
        os.nice(PLANNER_NICENESS)
    warm = WarmModel()
    while True:
        try:
            what, req = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if what == "plan":
                out: Any = plan_site(site, replace(req, warm=warm))
            else:  # "culprit": the device whose removal alone makes the plan succeed
                out = None
                for name in req.devices()[:16]:
                    try:
                        plan_site(site, replace(req.without(name), warm=WarmModel(base=warm.base)))
                    except GridflexError:
                        continue
                    out = name
                    break
            conn.send(("ok", out))
        except GridflexError as exc:
            conn.send(("error", (f"{type(exc).__name__}: {exc}", getattr(exc, "status", ""))))
        except Exception as exc:  # the worker must survive anything a device sent
            conn.send(("error", f"internal error: {type(exc).__name__}: {str(exc)[:300]}"))


class PlanningProcess:
    """One planning worker process for one site; one request at a time."""

    def __init__(self, site: Any) -> None:
        ctx = mp.get_context("spawn")  # no fork of a process running an event loop and threads
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker, args=(child, site), name="cem-planner", daemon=True)
        self._proc.start()
        child.close()
        self._lock = asyncio.Lock()

    async def _call(self, what: str, req: PlanRequest) -> Any:
        async with self._lock:
            try:  # pickling 2,000 devices takes ~50 ms: in the thread, the loop keeps answering frames
                status, value = await in_daemon_thread(self._roundtrip, what, replace(req, warm=None))
            except (EOFError, OSError):
                raise PlanningFailed("the planning process ended") from None
        if status != "ok":
            message, why = value if isinstance(value, tuple) else (value, "")
            raise PlanningFailed(str(message), str(why))
        return value

    def _roundtrip(self, what: str, req: PlanRequest) -> tuple[str, Any]:
        self._conn.send((what, req))
        return self._conn.recv()

    async def plan(self, req: PlanRequest) -> Plan:
        return await self._call("plan", req)

    async def culprit(self, req: PlanRequest) -> str | None:
        return await self._call("culprit", req)

    def close(self) -> None:
        """Stop the worker at once (a solve in progress is abandoned)."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(5)
        self._conn.close()

"""Run one function over chunks of work: serially, on a local process pool, or on a Dask cluster.

``map_chunks(fn, chunks)`` returns ``[fn(c) for c in chunks]`` in order, whichever way it runs:

* ``workers=1`` (or a single chunk): in this process, no pickling (the core's serial runner,
  :func:`gridflex.grid.evaluation.run_serial`);
* default: a ``concurrent.futures.ProcessPoolExecutor`` with the *spawn* start method (safe with
  threads and native libraries; ``fn`` must therefore be a module-level function and the chunks
  picklable);
* ``scheduler="tcp://host:port"``: a ``dask.distributed.Client`` connected to that scheduler (the
  workers must have gridflex installed). :func:`check_scheduler` checks the address and connects
  with a short timeout, so a wrong address fails in seconds with one line, before any work.

``progress(i)`` is called with the index of each chunk as it completes (in completion order).
Bad arguments (``workers < 1``, an address that is not one) raise
:class:`gridflex.errors.ValidationError` naming the argument.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from gridflex.errors import Problem, ValidationError

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["CONNECT_TIMEOUT_S", "check_scheduler", "check_workers", "default_workers", "map_chunks", "runner"]

CONNECT_TIMEOUT_S = 5.0
"""How long to try reaching a Dask scheduler before giving up (distributed's default is 30 s, retried)."""
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def default_workers() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def check_workers(workers: int | None, field: str = "workers") -> None:
    """Refuse a worker count below 1 (None means all CPUs)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        why = f"must be a whole number >= 1 (or left out for all CPUs), got {workers!r}"
        raise ValidationError("options", [Problem("options", field, why)])


def _address_problem(address: str) -> str | None:
    """Why ``address`` is not a Dask scheduler address, or None when it looks like one."""
    try:
        from distributed.comm import parse_address
        from distributed.comm.addressing import parse_host_port
    except ImportError:  # pragma: no cover - distributed is a dependency
        return "needs dask.distributed (pip install 'dask[distributed]')"
    hint = "expected tcp://HOST:PORT"
    try:
        scheme, loc = parse_address(address)
        if scheme not in _SCHEMES:
            return f"unknown protocol '{scheme}' in {address!r}: {hint}"
        if scheme == "inproc":
            return None
        host, port = parse_host_port(loc)
    except (ValueError, TypeError) as exc:
        return f"{address!r} is not a scheduler address ({exc}): {hint}"
    if not host or not 1 <= int(port) <= 65535:
        return f"{address!r} is not a scheduler address (host and a port 1..65535 needed): {hint}"
    return None


def _client(address: str, timeout_s: float, field: str) -> Any:
    """A ``distributed.Client`` connected to ``address``, or one ValidationError naming ``field``."""
    why = _address_problem(address)
    if why is None:
        from distributed import Client

        try:
            return Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            why = f"no Dask scheduler answered at {address} within {timeout_s:g} s ({type(exc).__name__})"
    raise ValidationError("options", [Problem("options", field, why)])


def check_scheduler(address: str, timeout_s: float = CONNECT_TIMEOUT_S, field: str = "scheduler") -> None:
    """Check the address's form, then connect and disconnect within ``timeout_s``; one clear error if not."""
    _client(address, timeout_s, field).close()


def map_chunks(
    fn: Callable[[T], R],
    chunks: Sequence[T],
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """``[fn(c) for c in chunks]``, possibly in parallel; results in the order of ``chunks``."""
    check_workers(workers)
    chunks = list(chunks)
    if scheduler:
        return _map_dask(fn, chunks, scheduler, progress)
    n = min(workers or default_workers(), len(chunks))
    if n <= 1:
        # one serial loop in the code base: the core's, which the core uses when no runner is given
        from gridflex.grid.evaluation import run_serial

        return run_serial(fn, chunks, progress)
    results: list[Any] = [None] * len(chunks)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        futures = {pool.submit(fn, c): i for i, c in enumerate(chunks)}
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                if progress is not None:
                    progress(i)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return results


def _map_dask(
    fn: Callable[[T], R], chunks: list[T], scheduler: str, progress: Callable[[int], None] | None
) -> list[R]:
    from distributed import as_completed as dask_as_completed

    client = _client(scheduler, CONNECT_TIMEOUT_S, "scheduler")
    with client:
        futures = client.map(fn, chunks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(chunks)
        for fut in dask_as_completed(futures, loop=client.loop):
            i = index[fut.key]
            results[i] = fut.result()
            if progress is not None:
                progress(i)
        return results


def runner(scheduler: str | None = None, workers: int | None = None) -> Callable[..., list[Any]]:
    """A runner for the core (``runner(fn, chunks, on_chunk)``, e.g. ``grid.evaluate(..., runner=)``)."""
    check_workers(workers)

    def run(
        fn: Callable[[T], R], chunks: Sequence[T], on_chunk: Callable[[int], None] | None = None
    ) -> list[R]:
        return map_chunks(fn, chunks, scheduler=scheduler, workers=workers, progress=on_chunk)

    return run

"""Run one function over chunks of work: serially, on a local process pool, or on a Dask cluster.

``map_chunks(fn, chunks)`` returns ``[fn(c) for c in chunks]`` in order, whichever way it runs:

* ``workers=1`` (or a single chunk): in this process, no pickling;
* default: a ``concurrent.futures.ProcessPoolExecutor`` with the *spawn* start method (safe with
  threads and native libraries; ``fn`` must therefore be a module-level function and the chunks
  picklable);
* ``scheduler="tcp://host:port"``: a ``dask.distributed.Client`` connected to that scheduler (the
  workers must have gridflex installed).

``progress(i)`` is called with the index of each chunk as it completes (in completion order).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["default_workers", "map_chunks", "runner"]


def default_workers() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def map_chunks(
    fn: Callable[[T], R],
    chunks: Sequence[T],
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """``[fn(c) for c in chunks]``, possibly in parallel; results in the order of ``chunks``."""
    chunks = list(chunks)
    if scheduler:
        return _map_dask(fn, chunks, scheduler, progress)
    n = min(workers or default_workers(), len(chunks))
    if n <= 1:
        out = []
        for i, c in enumerate(chunks):
            out.append(fn(c))
            if progress is not None:
                progress(i)
        return out
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
    from distributed import Client
    from distributed import as_completed as dask_as_completed

    with Client(scheduler, set_as_default=False) as client:
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

    def run(
        fn: Callable[[T], R], chunks: Sequence[T], on_chunk: Callable[[int], None] | None = None
    ) -> list[R]:
        return map_chunks(fn, chunks, scheduler=scheduler, workers=workers, progress=on_chunk)

    return run

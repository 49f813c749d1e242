"""The bridge to HiGHS: the only module that imports ``highspy``.

A model travels as :class:`Arrays` (one CSC matrix plus bound vectors) and is handed to HiGHS in one
call (:func:`pass_arrays`). HiGHS prints its banner once per process, on stdout, when the first
``Highs`` is created; that first instance is created here with stdout muted, so that only gridflex's
own output reaches stdout (JSON benchmark output, CEM logs, CLI tables).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

Highs = highspy.Highs
INF = highspy.kHighsInf
MS = highspy.HighsModelStatus
ERROR = highspy.HighsStatus.kError


def _mute_banner() -> None:
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


_mute_banner()


def feasible_solution(info: Any) -> bool:
    """Whether the last run left a primal feasible solution (also after a time limit)."""
    return bool(info.primal_solution_status == int(highspy.SolutionStatus.kSolutionStatusFeasible))


@dataclass(frozen=True)
class Arrays:
    """The whole model as arrays: what HiGHS gets, and what the diagnosis relaxes."""

    a: sp.csc_matrix
    cost: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    integer: np.ndarray


def new_highs(verbose: bool) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", verbose)
    return h


def pass_arrays(h: highspy.Highs, arr: Arrays) -> highspy.HighsStatus:
    """Hand a whole model to HiGHS in one call (the array form of passModel: no per-row work)."""
    a = arr.a
    return h.passModel(
        a.shape[1], a.shape[0], a.nnz, int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize),
        0.0, arr.cost, arr.lb, arr.ub, arr.row_lb, arr.row_ub, a.indptr.astype(np.int32),
        a.indices.astype(np.int32), a.data, arr.integer.astype(np.int32),
    )  # fmt: skip


_scheduler_threads: list[int] = []  # thread count the process-wide HiGHS scheduler was last reset to


def set_start(h: highspy.Highs, x: np.ndarray) -> None:
    """Offer HiGHS a starting point (one value per column) for its next MIP solve."""
    sol = highspy.HighsSolution()
    sol.col_value = np.asarray(x, dtype=float).tolist()
    sol.value_valid = True
    h.setSolution(sol)


def use_threads(h: highspy.Highs, threads: int) -> None:
    # HiGHS' task scheduler is global and refuses a different thread count once started; resetting
    # it is the documented way, so do it only when the count actually changes.
    if _scheduler_threads != [threads]:
        highspy.Highs.resetGlobalScheduler(True)
        _scheduler_threads[:] = [threads]
    h.setOptionValue("threads", threads)

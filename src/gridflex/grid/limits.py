"""The limits of a flexibility evaluation, checked up front (study validation and ``evaluate``).

Magnitudes. HiGHS treats bounds above 1e20 as infinite and rejects costs of that size and matrix
entries above 1e15, and far below those limits a model's numbers lose precision. Every value of a
study or a network is therefore finite and within:

* ``MAX_VALUE``: MW, MWh, EUR and EUR/MWh values (1e9: a thousand times the largest power system);
* ``MAX_FACTOR``: per-unit multipliers (load shape values, growth, storage scales, noise σ and μ);
* ``MAX_DT_H``: the length of one period (a year);
* ``MIN_EFFICIENCY``: storage efficiencies (1 %: Δt/η enters the model's matrix).

Size. ``MAX_PERIODS`` periods per study (a leap year of hours). Below it, memory decides: one
multi-period OPF model takes about ``MODEL_BYTES_PER_NONZERO`` per matrix entry plus
``MODEL_BYTES_PER_ROW_OR_COLUMN`` (HiGHS' copies and factors; measured on case9, case39,
case24_ieee_rts and case118, rounded up), each worker process holds one model and the scenarios of
one task (``chunk_size``), ``SCENARIO_PEAK_FACTOR`` × their size while they are drawn; the client
keeps the results of every solve. ``evaluate`` compares that
estimate with the memory available before it draws a scenario (see ``check_evaluation``).
"""

from __future__ import annotations

from pathlib import Path

MAX_VALUE = 1e9
MAX_FACTOR = 1e3
MAX_DT_H = 8784.0
MIN_EFFICIENCY = 0.01
MAX_PERIODS = 8784

MODEL_BYTES_PER_NONZERO = 150
MODEL_BYTES_PER_ROW_OR_COLUMN = 800
SCENARIO_PEAK_FACTOR = 4  # drawing: normals, their correlation, AR(1) and the scaled load live at once
RESULT_BYTES_PER_SOLVE_PERIOD = 2 * (1 + 8 + 8)  # z (int8), shed and spill (float64); ×2 while joined
WORKER_PROCESS_BYTES = 150_000_000  # a spawned worker after importing gridflex.grid (measured 113 MB)


def available_memory_bytes() -> int | None:
    """Memory this process may still take: MemAvailable, capped by a cgroup v2 limit; None if unknown."""
    avail: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        avail = None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            room = max(0, int(limit) - used)
            avail = room if avail is None else min(avail, room)
    except (OSError, ValueError):
        pass
    return avail

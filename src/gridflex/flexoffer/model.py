"""Flex-offers stored as a struct of arrays, so that a million fit in memory and vector operations.

Conventions (see ``docs/flexoffer-format.md``):

* Sign: positive energy = consumption, negative = production (as in S2).
* Units: energy kWh per interval, prices EUR/MWh, times int64 seconds since the Unix epoch (UTC).
* All offers of a batch share one interval length ``interval_s`` (default 900 s).
* A profile is a sequence of intervals, each with an energy range ``[lower_kwh, upper_kwh]``.
  A specification slice of duration ``d`` and range ``[L, U]`` is ``d`` intervals of ``[L/d, U/d]``
  (constant power bounds); schedules give one energy per interval. Profiles of different lengths
  are stored flat, CSR-style: offer ``i`` owns ``lower_kwh[offsets[i]:offsets[i+1]]``.
* Optional values are NaN (floats) or :data:`NO_TIME` (times).
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

NO_TIME = np.iinfo(np.int64).min
"""Sentinel for an absent time (acceptance or assignment deadline, default start)."""

DEFAULT_INTERVAL_S = 900


_CHUNK = 1 << 16  # flat intervals per block of a blocked pass: temporaries stay in the CPU cache


_SMALL_PAGES_FROM = 1 << 24  # bytes: results this big are allocated on small pages (empty_result)


def empty_result(n: int, dtype: Any) -> np.ndarray:
    """An uninitialised array of ``n`` values for a big result, on small (4 KiB) memory pages.

    numpy asks Linux for transparent huge pages for large arrays. On virtual machines that hand free
    memory back to the host (e.g. virtio-balloon free page reporting), the first write to fresh huge
    pages costs several times what it costs on small pages (600 MB: 1.7 s against 0.4 s of system
    time on the project's machines; docs/decisions/0016-disaggregation-in-one-sweep.md), and elsewhere
    small pages cost about the same. Below 16 MiB, and off Linux, this is ``np.empty``.
    """
    dt = np.dtype(dtype)
    nbytes = int(n) * dt.itemsize
    if nbytes < _SMALL_PAGES_FROM or not hasattr(mmap, "MADV_NOHUGEPAGE"):
        return np.empty(n, dtype=dt)
    # populated in one call (the result is written whole anyway): cheaper than a fault per page
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
    buf = mmap.mmap(-1, nbytes, flags=flags)
    buf.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buf, dtype=dt, count=n)  # the array keeps the mapping; unmapped with it


def segment_sum(flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum a flat CSR array over each segment ``[offsets[i], offsets[i+1])`` (empty segments give 0).

    Uses ``np.add.reduceat`` (one sequential pass, no index array).
    """
    n = len(offsets) - 1
    out = np.zeros(n, dtype=np.float64)
    lengths = np.diff(offsets)
    nonempty = lengths > 0
    if not (len(flat) and nonempty.any()):
        return out
    if flat.dtype == np.float64:
        out[nonempty] = np.add.reduceat(flat, offsets[:-1][nonempty])
        return out
    # other storage (float32): float64 accumulation, block by block (``reduceat(..., dtype=float64)``
    # would cast the whole array first, and runs ten times slower)
    for m0, m1, a, b in blocks(offsets):
        sel = nonempty[m0:m1]
        out[m0:m1][sel] = np.add.reduceat(flat[a:b].astype(np.float64), offsets[m0:m1][sel] - a)
    return out


def blocks(offsets: np.ndarray, chunk: int | None = None) -> list[tuple[int, int, int, int]]:
    """Blocks ``(m0, m1, a, b)`` of whole offers ``m0..m1`` covering flat intervals ``a..b``, each about
    ``chunk`` intervals: a loop over blocks keeps its temporaries in the CPU cache, so every flat
    array is read or written once instead of once per numpy operation."""
    chunk = _CHUNK if chunk is None else chunk
    total = int(offsets[-1]) if len(offsets) else 0
    if total == 0:
        return []
    cuts = np.unique(np.searchsorted(offsets, np.arange(0, total, chunk), side="right") - 1)
    cuts = np.append(cuts, len(offsets) - 1)
    return [
        (m0, m1, int(offsets[m0]), int(offsets[m1]))
        for m0, m1 in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True)
    ]


def _strings(a: object) -> np.ndarray:
    """Fixed-width unicode (``U``) or numpy's variable-width ``StringDType`` (``T``: 16 bytes per short
    string instead of 4 per character of the longest, e.g. for millions of generated ids) kept as
    given; anything else as ``U``."""
    arr = np.asarray(a)
    return arr if arr.dtype.kind in "UT" else arr.astype(str)


def _i64(a: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.int64))


def _f64(a: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


FLAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
"""Storage of per-interval energies (bounds, default and assigned schedules): float64, or float32 when
given as float32 (half the memory: e.g. a 10-million-device fleet, ``generate_fleet(dtype="float32")``).
Computations on them (sums, TEC checks, aggregate bounds, the split) accumulate in float64; see
``docs/decisions/0007-compact-flexoffer-arrays.md``."""


def _flat(a: object) -> np.ndarray:
    """Per-interval energies: a float32 array stays float32 (compact storage), anything else float64."""
    if isinstance(a, np.ndarray) and a.dtype == np.float32:
        return np.ascontiguousarray(a)
    return _f64(a)


@dataclass(frozen=True, eq=False)
class Schedule:
    """One assignment per offer: a start time and one energy per profile interval (flat, CSR)."""

    start_s: np.ndarray  # int64 (n,)
    energy_kwh: np.ndarray  # float64 or float32 (offsets[-1],), aligned with the batch profile

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_s", _i64(self.start_s))
        object.__setattr__(self, "energy_kwh", _flat(self.energy_kwh))


@dataclass(frozen=True, eq=False)
class FlexOfferBatch:
    """Many flex-offers as parallel arrays. Construct with :meth:`from_profiles` or directly.

    Fields per offer ``i`` (length ``n``) unless noted:

    ``ids``, ``owners``            str identifiers (numpy ``U`` or ``StringDType``)
    ``est_s``, ``lst_s``           earliest / latest start (startAfterTime / startBeforeTime)
    ``offsets``                    int64 (n+1): profile of offer i is ``[offsets[i], offsets[i+1])``
    ``lower_kwh``, ``upper_kwh``   float64, or float32 if given so (offsets[-1]): energy range per
                                   profile interval (see :data:`FLAT_DTYPES`)
    ``tec_lower_kwh``, ``tec_upper_kwh``  total energy constraint, NaN when absent
    ``accept_before_s``, ``assign_before_s``  deadlines, NO_TIME when absent
    ``price_above_eur_per_mwh``, ``price_below_eur_per_mwh``  price of energy above / below the
                                   default schedule, NaN when absent
    ``default``, ``schedule``      optional :class:`Schedule` (baseline and assigned)
    """

    ids: np.ndarray
    est_s: np.ndarray
    lst_s: np.ndarray
    offsets: np.ndarray
    lower_kwh: np.ndarray
    upper_kwh: np.ndarray
    interval_s: int = DEFAULT_INTERVAL_S
    owners: np.ndarray = None  # type: ignore[assignment]  # None → filled in __post_init__
    tec_lower_kwh: np.ndarray = None  # type: ignore[assignment]  # None → filled in __post_init__
    tec_upper_kwh: np.ndarray = None  # type: ignore[assignment]  # None → filled in __post_init__
    accept_before_s: np.ndarray = None  # type: ignore[assignment]  # None → filled in __post_init__
    assign_before_s: np.ndarray = None  # type: ignore[assignment]  # None → filled in __post_init__
    price_above_eur_per_mwh: np.ndarray = None  # type: ignore[assignment]  # None → filled in __post_init__
    price_below_eur_per_mwh: np.ndarray = None  # type: ignore[assignment]  # None → filled in __post_init__
    default: Schedule | None = None
    schedule: Schedule | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        object.__setattr__(self, "ids", _strings(self.ids))
        owners = np.full(n, "", dtype=str) if self.owners is None else _strings(self.owners)
        object.__setattr__(self, "owners", owners)
        for name in ("est_s", "lst_s", "offsets"):
            object.__setattr__(self, name, _i64(getattr(self, name)))
        for name in ("lower_kwh", "upper_kwh"):
            object.__setattr__(self, name, _flat(getattr(self, name)))
        for name in ("tec_lower_kwh", "tec_upper_kwh", "price_above_eur_per_mwh", "price_below_eur_per_mwh"):
            v = getattr(self, name)
            object.__setattr__(self, name, np.full(n, np.nan) if v is None else _f64(v))
        for name in ("accept_before_s", "assign_before_s"):
            v = getattr(self, name)
            object.__setattr__(self, name, np.full(n, NO_TIME, dtype=np.int64) if v is None else _i64(v))

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_profiles(
        cls,
        ids: Sequence[str],
        est_s: Sequence[int],
        lst_s: Sequence[int],
        lower_kwh: Sequence[Sequence[float]],
        upper_kwh: Sequence[Sequence[float]],
        **kwargs: object,
    ) -> FlexOfferBatch:
        """Build from per-offer profile lists (convenient for small sets and tests)."""
        lengths = np.fromiter((len(p) for p in lower_kwh), dtype=np.int64, count=len(lower_kwh))
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        flat = lambda ps: np.concatenate([np.asarray(p, float) for p in ps]) if len(ps) else np.zeros(0)  # noqa: E731
        default = kwargs.pop("default", None)
        if isinstance(default, tuple):
            default = Schedule(default[0], flat(default[1]))
        return cls(
            ids=np.asarray(ids),
            est_s=np.asarray(est_s),
            lst_s=np.asarray(lst_s),
            offsets=offsets,
            lower_kwh=flat(lower_kwh),
            upper_kwh=flat(upper_kwh),
            default=default,  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )

    # ---- shape --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """Profile length of each offer, in intervals."""
        return np.diff(self.offsets)

    @property
    def owner_index(self) -> np.ndarray:
        """For each flat profile interval, the index of the offer that owns it (cached)."""
        if "owner_index" not in self._cache:
            self._cache["owner_index"] = np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)
        return self._cache["owner_index"]

    @property
    def position(self) -> np.ndarray:
        """For each flat profile interval, its position inside its own profile (0-based, cached)."""
        if "position" not in self._cache:
            self._cache["position"] = np.arange(len(self.lower_kwh), dtype=np.int64) - np.repeat(
                self.offsets[:-1], self.lengths
            )
        return self._cache["position"]

    @property
    def time_flex(self) -> np.ndarray:
        """Time flexibility in intervals: (LST − EST) / interval."""
        return (self.lst_s - self.est_s) // self.interval_s

    def sum_per_offer(self, flat: np.ndarray) -> np.ndarray:
        """Sum a flat per-interval array over each offer's profile (one pass, no index array)."""
        return segment_sum(flat, self.offsets)

    def profile(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) energy arrays of offer ``i``."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.lower_kwh[a:b], self.upper_kwh[a:b]

    # ---- total energy constraint, made effective ----------------------------------------------
    @property
    def tec_effective(self) -> tuple[np.ndarray, np.ndarray]:
        """Total energy range actually reachable: the TEC (if any) intersected with the profile sums."""
        lo_sum = self.sum_per_offer(self.lower_kwh)
        hi_sum = self.sum_per_offer(self.upper_kwh)
        lo = np.where(np.isnan(self.tec_lower_kwh), lo_sum, np.maximum(self.tec_lower_kwh, lo_sum))
        hi = np.where(np.isnan(self.tec_upper_kwh), hi_sum, np.minimum(self.tec_upper_kwh, hi_sum))
        return lo, hi

    # ---- selection ----------------------------------------------------------------------------
    def take(self, idx: np.ndarray | Sequence[int]) -> FlexOfferBatch:
        """A new batch with the offers at ``idx`` (in that order)."""
        idx = np.asarray(idx, dtype=np.int64)
        lengths = self.lengths[idx]
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        flat_idx = np.repeat(self.offsets[idx] - offsets[:-1], lengths) + np.arange(offsets[-1])

        def sched(s: Schedule | None) -> Schedule | None:
            return None if s is None else Schedule(s.start_s[idx], s.energy_kwh[flat_idx])

        return FlexOfferBatch(
            ids=self.ids[idx],
            owners=self.owners[idx],
            est_s=self.est_s[idx],
            lst_s=self.lst_s[idx],
            offsets=offsets,
            lower_kwh=self.lower_kwh[flat_idx],
            upper_kwh=self.upper_kwh[flat_idx],
            interval_s=self.interval_s,
            tec_lower_kwh=self.tec_lower_kwh[idx],
            tec_upper_kwh=self.tec_upper_kwh[idx],
            accept_before_s=self.accept_before_s[idx],
            assign_before_s=self.assign_before_s[idx],
            price_above_eur_per_mwh=self.price_above_eur_per_mwh[idx],
            price_below_eur_per_mwh=self.price_below_eur_per_mwh[idx],
            default=sched(self.default),
            schedule=sched(self.schedule),
        )

    def with_schedule(self, schedule: Schedule | None) -> FlexOfferBatch:
        return replace(self, schedule=schedule, _cache=self._cache)

    def with_default(self, default: Schedule | None) -> FlexOfferBatch:
        return replace(self, default=default, _cache=self._cache)

    @staticmethod
    def concat(batches: Sequence[FlexOfferBatch], consume: bool = False) -> FlexOfferBatch:
        """Concatenate batches with the same interval length.

        ``consume=True`` releases each field of ``batches`` once it is copied (the batches are left
        unusable): the peak memory is then the result plus one field, not twice the result.
        """
        if not batches:
            raise ValueError("concat needs at least one batch")
        interval = {b.interval_s for b in batches}
        if len(interval) != 1:
            from gridflex.errors import FlexOfferValidationError, Problem

            raise FlexOfferValidationError(
                "batch concatenation",
                [Problem("batch", "numSecondsPerInterval", f"mixed interval lengths {sorted(interval)}")],
            )
        lengths = np.concatenate([b.lengths for b in batches])
        sizes = [(len(b), len(b.lower_kwh)) for b in batches]

        def cat(name: str) -> np.ndarray:
            parts = [getattr(b, name) for b in batches]
            if not consume or any(p.dtype.kind not in "biuf" for p in parts):
                out = np.concatenate(parts)
            else:  # each part released as soon as it is copied (the output's pages fill as they go)
                out = np.empty(sum(len(p) for p in parts), dtype=np.result_type(*parts))
                del parts
                pos = 0
                for b in batches:
                    p = getattr(b, name)
                    out[pos : pos + len(p)] = p
                    pos += len(p)
                    object.__setattr__(b, name, None)
                    b._cache.clear()
                    del p
                return out
            if consume:
                for b in batches:
                    object.__setattr__(b, name, None)
                    b._cache.clear()
            return out

        def sched(attr: str) -> Schedule | None:
            parts = [getattr(b, attr) for b in batches]
            if all(p is None for p in parts):
                return None
            starts, energies = [], []
            for (n, _), p in zip(sizes, parts, strict=True):
                starts.append(np.full(n, NO_TIME, np.int64) if p is None else p.start_s)
            start = np.concatenate(starts)
            del starts
            if consume:  # each part released as soon as it is copied
                dtypes = [np.dtype(np.float64) if p is None else p.energy_kwh.dtype for p in parts]
                energy = np.empty(sum(total for _, total in sizes), dtype=np.result_type(*dtypes))
                del parts
                pos = 0
                for (_, total), b in zip(sizes, batches, strict=True):
                    p = getattr(b, attr)
                    energy[pos : pos + total] = np.nan if p is None else p.energy_kwh
                    pos += total
                    object.__setattr__(b, attr, None)
                    del p
                return Schedule(start, energy)
            for (_, total), p in zip(sizes, parts, strict=True):
                energies.append(np.full(total, np.nan) if p is None else p.energy_kwh)
            return Schedule(start, np.concatenate(energies))

        names = (
            "ids", "owners", "est_s", "lst_s", "lower_kwh", "upper_kwh", "tec_lower_kwh", "tec_upper_kwh",
            "accept_before_s", "assign_before_s", "price_above_eur_per_mwh", "price_below_eur_per_mwh",
        )  # fmt: skip
        interval_s = batches[0].interval_s
        default, schedule = sched("default"), sched("schedule")
        fields: dict[str, Any] = {name: cat(name) for name in names}
        return FlexOfferBatch(
            offsets=np.concatenate(([0], np.cumsum(lengths))),
            interval_s=interval_s,
            default=default,
            schedule=schedule,
            **fields,
        )


def place_on_grid(batch: FlexOfferBatch, schedule: Schedule, grid_start_s: int, n_periods: int) -> np.ndarray:
    """Sum of scheduled energy per grid period (kWh), for a grid with the batch's interval length.

    Intervals falling outside ``[grid_start_s, grid_start_s + n_periods*interval_s)`` raise.
    """
    from gridflex.errors import TimeGridError

    rel = schedule.start_s - grid_start_s
    if (rel % batch.interval_s).any():
        bad = int(np.flatnonzero(rel % batch.interval_s)[0])
        raise TimeGridError(f"offer {batch.ids[bad]!r}: schedule start is off the {batch.interval_s} s grid")
    start_idx = rel // batch.interval_s
    lengths = batch.lengths
    used = lengths > 0
    if used.any():
        first, last = int(start_idx[used].min()), int((start_idx + lengths - 1)[used].max())
        if first < 0 or last >= n_periods:
            raise TimeGridError(
                f"schedule reaches periods {first}..{last}, outside the grid of {n_periods} periods"
            )
    # block by block: no index array of the size of the profiles is kept (see :func:`blocks`)
    out = np.zeros(n_periods)
    shift = start_idx - batch.offsets[:-1]
    for m0, m1, a, b in blocks(batch.offsets):
        t = np.repeat(shift[m0:m1], lengths[m0:m1])
        t += np.arange(a, b)
        out += np.bincount(t, weights=schedule.energy_kwh[a:b], minlength=n_periods)
    return out


def envelope_on_grid(
    batch: FlexOfferBatch, grid_start_s: int, n_periods: int
) -> tuple[np.ndarray, np.ndarray]:
    """Least and most energy per grid period that the batch can take, over all starts and energies.

    For each offer and period t: the max (min) of its upper (lower) bound over the placements that
    cover t, and 0 as well if some placement leaves t uncovered; summed over offers. TECs are ignored,
    so this is the outer envelope used for plots.
    """
    base = (batch.est_s - grid_start_s) // batch.interval_s
    tf = batch.time_flex
    n = len(batch)
    hi = np.full(n * n_periods, -np.inf)
    lo = np.full(n * n_periods, np.inf)
    covered = np.zeros(n * n_periods, dtype=np.int64)
    owner, pos = batch.owner_index, batch.position
    for delta in range(int(tf.max(initial=-1)) + 1):
        sel = tf[owner] >= delta
        key = owner[sel] * n_periods + np.clip(base[owner[sel]] + delta + pos[sel], 0, n_periods - 1)
        np.maximum.at(hi, key, batch.upper_kwh[sel])
        np.minimum.at(lo, key, batch.lower_kwh[sel])
        covered += np.bincount(key, minlength=n * n_periods)
    always = covered == np.repeat(tf + 1, n_periods)
    hi = np.where(np.isinf(hi), 0.0, np.where(always, hi, np.maximum(hi, 0.0)))
    lo = np.where(np.isinf(lo), 0.0, np.where(always, lo, np.minimum(lo, 0.0)))
    return lo.reshape(n, n_periods).sum(axis=0), hi.reshape(n, n_periods).sum(axis=0)

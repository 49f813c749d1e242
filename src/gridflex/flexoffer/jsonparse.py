"""Parsing FlexOffer JSON (already decoded) into the flat lists of a batch, naming every problem.

A fast path fills a well-formed document without per-field checks; at the first oddity the careful
parser runs and collects one :class:`Problem` per offer and field (``flexOffers[i]`` when the id is
missing). Used by :mod:`gridflex.flexoffer.io`, which holds the public reading and writing functions.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeGuard

import numpy as np

from gridflex.errors import Problem
from gridflex.flexoffer.model import DEFAULT_INTERVAL_S, NO_TIME, FlexOfferBatch, Schedule

PROFILE = "flexOfferProfileConstraints"
SCHEDULES = ("defaultSchedule", "flexOfferSchedule")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small dicts and lists
    (acyclic data: the collector would only rescan them, several times over)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _is_num(x: object) -> TypeGuard[int | float]:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _is_int(x: object) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


class _Parser:
    """Collects the offers of a document into flat lists, and every problem on the way."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.times: dict[str, int] = {}
        self.interval: tuple[int, str] | None = None
        self.ids: list[str] = []
        self.owners: list[str] = []
        self.est: list[int] = []
        self.lst: list[int] = []
        self.acc: list[int] = []
        self.asg: list[int] = []
        self.tec_lo: list[float] = []
        self.tec_hi: list[float] = []
        self.p_above: list[float] = []
        self.p_below: list[float] = []
        self.lengths: list[int] = []
        self.slice_d: list[int] = []
        self.slice_lo: list[float] = []
        self.slice_hi: list[float] = []
        self.sched: dict[str, tuple[list[int], list[int], list[float]]] = {
            name: ([], [], []) for name in SCHEDULES
        }
        self.has_sched = dict.fromkeys(SCHEDULES, False)

    _LISTS = (
        "ids", "owners", "est", "lst", "acc", "asg", "tec_lo", "tec_hi", "p_above", "p_below",
        "lengths", "slice_d", "slice_lo", "slice_hi",
    )  # fmt: skip

    def extend(self, other: _Parser) -> None:
        """Append the offers of ``other`` (the next chunk of the same document)."""
        self.problems += other.problems
        for name in self._LISTS:
            getattr(self, name).extend(getattr(other, name))
        for name in SCHEDULES:
            for mine, theirs in zip(self.sched[name], other.sched[name], strict=True):
                mine.extend(theirs)  # type: ignore[attr-defined]
            self.has_sched[name] |= other.has_sched[name]
        if other.interval is None:
            return
        if self.interval is None:
            self.interval = other.interval
        elif other.interval[0] != self.interval[0]:
            ivl, oid = other.interval
            self.bad(
                oid,
                "numSecondsPerInterval",
                f"{ivl} differs from {self.interval[0]} of offer {self.interval[1]}: "
                "all offers of a batch must share one interval length",
            )

    def bad(self, oid: str, field: str, message: str) -> None:
        self.problems.append(Problem(oid, field, message))

    def time(self, value: object, oid: str, field: str, required: bool) -> int:
        if value is None:
            if required:
                self.bad(oid, field, "missing (required)")
            return NO_TIME
        if not isinstance(value, str):
            self.bad(oid, field, f"expected an ISO 8601 time string, got {type(value).__name__}")
            return NO_TIME
        t = self.times.get(value)
        if t is not None:
            return t
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            self.bad(oid, field, f"cannot parse {value!r} as an ISO 8601 time")
            return NO_TIME
        if dt.tzinfo is None:
            self.bad(oid, field, f"{value!r} has no time zone: give UTC ('...Z') or an offset")
            return NO_TIME
        delta = dt - _EPOCH
        if delta.microseconds:
            self.bad(oid, field, f"{value!r} is not a whole second")
            return NO_TIME
        t = delta.days * 86400 + delta.seconds
        self.times[value] = t
        return t

    def number_pair(self, obj: object, oid: str, field: str, keys: tuple[str, str], need_both: bool):
        nan = float("nan")
        if obj is None:
            return nan, nan
        if not isinstance(obj, dict):
            self.bad(oid, field, f"expected an object, got {type(obj).__name__}")
            return nan, nan
        out = []
        for k in keys:
            v = obj.get(k)
            if v is None:
                if need_both:
                    self.bad(oid, f"{field}.{k}", "missing (required)")
                out.append(nan)
            elif not _is_num(v):
                self.bad(oid, f"{field}.{k}", f"expected a number, got {type(v).__name__}")
                out.append(nan)
            else:
                out.append(float(v))
        return out[0], out[1]

    def profile(self, prof: object, oid: str) -> int:
        if prof is None:
            self.bad(oid, PROFILE, "missing (required)")
            return -1
        if not isinstance(prof, list):
            self.bad(oid, PROFILE, f"expected a list of slices, got {type(prof).__name__}")
            return -1
        length = 0
        ok = True
        for j, s in enumerate(prof):
            f = f"{PROFILE}[{j}]"
            if not isinstance(s, dict):
                self.bad(oid, f, f"expected an object, got {type(s).__name__}")
                ok = False
                continue
            d_min, d_max, ecl = s.get("minDuration"), s.get("maxDuration"), s.get("energyConstraintList")
            if not _is_int(d_min) or d_min < 1:
                self.bad(oid, f + ".minDuration", f"expected a positive integer, got {d_min!r}")
                ok = False
            elif not _is_int(d_max) or d_max < 1:
                self.bad(oid, f + ".maxDuration", f"expected a positive integer, got {d_max!r}")
                ok = False
            elif d_min != d_max:
                self.bad(
                    oid,
                    f + ".maxDuration",
                    f"minDuration {d_min} != maxDuration {d_max}: gridflex needs fixed slice durations",
                )
                ok = False
            if not isinstance(ecl, list) or not ecl:
                self.bad(oid, f + ".energyConstraintList", "expected a list with one {lower, upper} object")
                ok = False
                continue
            if len(ecl) != 1:
                self.bad(
                    oid,
                    f + ".energyConstraintList",
                    f"has {len(ecl)} entries: gridflex needs exactly one energy constraint per slice",
                )
                ok = False
                continue
            n_before = len(self.problems)
            lo, hi = self.number_pair(ecl[0], oid, f, ("lower", "upper"), need_both=True)
            if len(self.problems) != n_before or not ok:
                ok = False
                continue
            duration = int(d_min)  # type: ignore[arg-type]  # checked by _is_int above
            self.slice_d.append(duration)
            self.slice_lo.append(lo)
            self.slice_hi.append(hi)
            length += duration
        return length if ok else -1

    def schedule(self, obj: object, oid: str, name: str, length: int) -> None:
        starts, durs, energies = self.sched[name]
        if obj is None:
            starts.append(NO_TIME)
            if length > 0:
                durs.append(length)
                energies.append(float("nan"))
            return
        self.has_sched[name] = True
        if not isinstance(obj, dict):
            self.bad(oid, name, f"expected an object, got {type(obj).__name__}")
            return
        starts.append(self.time(obj.get("startTime"), oid, name + ".startTime", required=True))
        slices = obj.get("scheduleSlices")
        if not isinstance(slices, list):
            self.bad(oid, name + ".scheduleSlices", "missing or not a list")
            return
        covered = 0
        for j, s in enumerate(slices):
            f = f"{name}.scheduleSlices[{j}]"
            d = s.get("duration") if isinstance(s, dict) else None
            e = s.get("energyAmount") if isinstance(s, dict) else None
            if not isinstance(s, dict):
                self.bad(oid, f, f"expected an object, got {type(s).__name__}")
            elif not _is_int(d) or d < 1:
                self.bad(oid, f + ".duration", f"expected a positive integer, got {d!r}")
            elif not _is_num(e):
                self.bad(oid, f + ".energyAmount", f"expected a number, got {e!r}")
            else:
                durs.append(d)
                energies.append(float(e))
                covered += d
        if length >= 0 and covered != length:
            self.bad(oid, name + ".scheduleSlices", f"covers {covered} intervals, the profile has {length}")

    def offer(self, pos: int, fo: object) -> None:
        if not isinstance(fo, dict):
            self.bad(f"flexOffers[{pos}]", "", f"expected an offer object, got {type(fo).__name__}")
            return
        get = fo.get
        oid = get("id")
        if not isinstance(oid, str) or not oid:
            self.bad(f"flexOffers[{pos}]", "id", f"missing or not a non-empty string: {oid!r}")
            oid = f"flexOffers[{pos}]"
        owner = get("offeredById", "")
        if owner is None:
            owner = ""
        elif not isinstance(owner, str):
            self.bad(oid, "offeredById", f"expected a string, got {type(owner).__name__}")
        ivl = get("numSecondsPerInterval")
        if ivl is None:
            self.bad(oid, "numSecondsPerInterval", "missing (required)")
        elif not _is_int(ivl):
            self.bad(oid, "numSecondsPerInterval", f"expected an integer number of seconds, got {ivl!r}")
        elif self.interval is None:
            self.interval = (ivl, oid)
        elif ivl != self.interval[0]:
            self.bad(
                oid,
                "numSecondsPerInterval",
                f"{ivl} differs from {self.interval[0]} of offer {self.interval[1]}: "
                "all offers of a batch must share one interval length",
            )
        self.ids.append(oid)
        self.owners.append(owner if isinstance(owner, str) else "")
        self.est.append(self.time(get("startAfterTime"), oid, "startAfterTime", required=True))
        self.lst.append(self.time(get("startBeforeTime"), oid, "startBeforeTime", required=True))
        self.acc.append(self.time(get("acceptBeforeTime"), oid, "acceptBeforeTime", required=False))
        self.asg.append(self.time(get("assignmentBeforeTime"), oid, "assignmentBeforeTime", required=False))
        tec = get("totalEnergyConstraint")
        lo, hi = self.number_pair(tec, oid, "totalEnergyConstraint", ("lower", "upper"), need_both=False)
        if isinstance(tec, dict) and tec.get("lower") is None and tec.get("upper") is None:
            self.bad(oid, "totalEnergyConstraint", "needs lower and/or upper (omit it when unconstrained)")
        self.tec_lo.append(lo)
        self.tec_hi.append(hi)
        keys = ("aboveDefaultEurPerMWh", "belowDefaultEurPerMWh")
        pa, pb = self.number_pair(get("unitPrices"), oid, "unitPrices", keys, need_both=False)
        self.p_above.append(pa)
        self.p_below.append(pb)
        length = self.profile(get(PROFILE), oid)
        self.lengths.append(max(length, 0))
        for name in SCHEDULES:
            self.schedule(get(name), oid, name, length)

    def build(self) -> FlexOfferBatch:
        d = np.asarray(self.slice_d, dtype=np.int64)
        lower = np.repeat(np.asarray(self.slice_lo, dtype=np.float64) / d, d) if len(d) else np.zeros(0)
        upper = np.repeat(np.asarray(self.slice_hi, dtype=np.float64) / d, d) if len(d) else np.zeros(0)
        scheds = {}
        for name in SCHEDULES:
            if self.has_sched[name]:
                starts, durs, energies = self.sched[name]
                sd = np.asarray(durs, dtype=np.int64)
                flat = np.repeat(np.asarray(energies, dtype=np.float64) / sd, sd)
                scheds[name] = Schedule(np.asarray(starts, dtype=np.int64), flat)
        return FlexOfferBatch(
            ids=np.asarray(self.ids, dtype=str),
            owners=np.asarray(self.owners, dtype=str),
            est_s=np.asarray(self.est, dtype=np.int64),
            lst_s=np.asarray(self.lst, dtype=np.int64),
            offsets=np.concatenate(([0], np.cumsum(np.asarray(self.lengths, dtype=np.int64)))),
            lower_kwh=lower,
            upper_kwh=upper,
            interval_s=DEFAULT_INTERVAL_S if self.interval is None else self.interval[0],
            tec_lower_kwh=np.asarray(self.tec_lo, dtype=np.float64),
            tec_upper_kwh=np.asarray(self.tec_hi, dtype=np.float64),
            accept_before_s=np.asarray(self.acc, dtype=np.int64),
            assign_before_s=np.asarray(self.asg, dtype=np.int64),
            price_above_eur_per_mwh=np.asarray(self.p_above, dtype=np.float64),
            price_below_eur_per_mwh=np.asarray(self.p_below, dtype=np.float64),
            default=scheds.get("defaultSchedule"),
            schedule=scheds.get("flexOfferSchedule"),
        )


_NUM = frozenset({int, float})
_NONE = type(None)


def _only(values: list, allowed: set | frozenset) -> bool:
    return set(map(type, values)) <= allowed


def _fast_times(p: _Parser, values: list, required: bool) -> list[int] | None:
    if not _only(values, {str} if required else {str, _NONE}):
        return None
    cache = p.times
    for v in set(values) - cache.keys():
        if v is not None and p.time(v, "", "", required=True) == NO_TIME:
            return None
    return [NO_TIME if v is None else cache[v] for v in values]


def _fast_pairs(items: list, key: str, names: tuple[str, str]) -> tuple[list, list] | None:
    objs = [fo.get(key) for fo in items]
    if not _only(objs, {dict, _NONE}):
        return None
    nan = float("nan")
    a = [nan if o is None else o.get(names[0]) for o in objs]
    b = [nan if o is None else o.get(names[1]) for o in objs]
    if not (_only(a, _NUM | {_NONE}) and _only(b, _NUM | {_NONE})):
        return None
    return a, b  # None: key missing inside a given object


def _fast_fill(p: _Parser, items: list) -> bool:
    """Fill ``p`` from a well-formed document without per-field checks; False at the first oddity
    (the careful parser then runs and names every problem)."""
    if not _only(items, {dict}):
        return False
    ids = [fo["id"] for fo in items]
    owners = [fo.get("offeredById", "") for fo in items]
    ivls = [fo["numSecondsPerInterval"] for fo in items]
    if not (_only(ids, {str}) and _only(owners, {str}) and _only(ivls, {int})) or "" in ids:
        return False
    if len(set(ivls)) > 1:
        return False
    times = [
        _fast_times(p, [fo.get(k) for fo in items], req)
        for k, req in (
            ("startAfterTime", True),
            ("startBeforeTime", True),
            ("acceptBeforeTime", False),
            ("assignmentBeforeTime", False),
        )
    ]
    tec = _fast_pairs(items, "totalEnergyConstraint", ("lower", "upper"))
    prices = _fast_pairs(items, "unitPrices", ("aboveDefaultEurPerMWh", "belowDefaultEurPerMWh"))
    if any(t is None for t in times) or tec is None or prices is None:
        return False
    if any(a is None and b is None for a, b in zip(*tec, strict=True)):
        return False  # an empty totalEnergyConstraint object: the careful parser names it
    profiles = [fo[PROFILE] for fo in items]
    if not _only(profiles, {list}):
        return False
    slices = [s for prof in profiles for s in prof]
    if not _only(slices, {dict}):
        return False
    d_min = [s["minDuration"] for s in slices]
    ecl = [s["energyConstraintList"] for s in slices]
    if not (_only(d_min, {int}) and d_min == [s["maxDuration"] for s in slices] and _only(ecl, {list})):
        return False
    if (d_min and min(d_min) < 1) or not set(map(len, ecl)) <= {1}:
        return False
    ec = [e[0] for e in ecl]
    if not _only(ec, {dict}):
        return False
    lows, highs = [c["lower"] for c in ec], [c["upper"] for c in ec]
    if not (_only(lows, _NUM) and _only(highs, _NUM)):
        return False
    lengths, k = [], 0
    for prof in profiles:
        lengths.append(sum(d_min[k : k + len(prof)]))
        k += len(prof)
    for name in SCHEDULES:
        scheds = [fo.get(name) for fo in items]
        if not _only(scheds, {dict, _NONE}):
            return False
        present = [sc for sc in scheds if sc is not None]
        starts = _fast_times(p, [sc["startTime"] for sc in present], required=True)
        if starts is None:
            return False
        starts_iter = iter(starts)
        all_starts, durs, energies = p.sched[name]
        for sc, length in zip(scheds, lengths, strict=True):
            if sc is None:
                all_starts.append(NO_TIME)
                if length > 0:
                    durs.append(length)
                    energies.append(float("nan"))
                continue
            sl = sc["scheduleSlices"]
            if type(sl) is not list or not _only(sl, {dict}):
                return False
            ds = [x["duration"] for x in sl]
            es = [x["energyAmount"] for x in sl]
            if not (_only(ds, {int}) and _only(es, _NUM)) or sum(ds) != length or (ds and min(ds) < 1):
                return False
            all_starts.append(next(starts_iter))
            durs.extend(ds)
            energies.extend(es)
        p.has_sched[name] = bool(present)
    nan = float("nan")
    p.interval = (ivls[0], ids[0]) if ivls else None
    p.ids, p.owners = ids, owners
    p.est, p.lst, p.acc, p.asg = times  # type: ignore[assignment]
    p.tec_lo, p.tec_hi = ([nan if x is None else x for x in col] for col in tec)
    p.p_above, p.p_below = ([nan if x is None else x for x in col] for col in prices)
    p.lengths, p.slice_d, p.slice_lo, p.slice_hi = lengths, d_min, lows, highs
    return True


def _parse(items: list, start: int = 0, times: dict[str, int] | None = None) -> _Parser:
    """Parse ``items`` (offers ``start``, ``start + 1``, ... of the document); ``times``: a cache of
    parsed time strings shared between the chunks of one document."""
    parser = _Parser()
    if times is not None:
        parser.times = times
    try:
        ok = _fast_fill(parser, items)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError):
        ok = False
    if ok:
        return parser
    parser = _Parser()
    if times is not None:
        parser.times = times
    for pos, fo in enumerate(items, start):
        parser.offer(pos, fo)
    return parser


_INDEXED = re.compile(rf"^({PROFILE}|(?:{'|'.join(SCHEDULES)})\.scheduleSlices)\[(\d+)\](.*)$")


def _slice_index(durations: list, k: int) -> int | None:
    pos = 0
    for j, s in enumerate(durations):
        pos += s
        if k < pos:
            return j
    return None


def _to_slice_fields(problems: list[Problem], items: list) -> list[Problem]:
    """Map interval indices in validation fields (``...[k]``) back to the JSON slice indices."""
    by_id: dict[str, int] = {}
    for pos, fo in enumerate(items):
        oid = fo.get("id") if isinstance(fo, dict) else None
        by_id.setdefault(oid if isinstance(oid, str) and oid else f"flexOffers[{pos}]", pos)
    out = []
    for p in problems:
        m = _INDEXED.match(p.field)
        at = by_id.get(p.object_id)
        if m is None or at is None:
            out.append(p)
            continue
        base, k, rest = m.group(1), int(m.group(2)), m.group(3)
        fo = items[at]
        if base == PROFILE:
            durations = [s["minDuration"] for s in fo[PROFILE]]
        else:
            durations = [s["duration"] for s in fo[base.split(".")[0]]["scheduleSlices"]]
        j = _slice_index(durations, k)
        out.append(p if j is None else Problem(p.object_id, f"{base}[{j}]{rest}", p.message))
    return out

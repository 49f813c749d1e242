"""Flex-offers as JSON, in the field names of the public FlexOffer specification.

See ``docs/flexoffer-format.md`` for the format, units and the ways gridflex differs from the
specification. In short: times are ISO 8601 UTC strings ending in ``Z`` (input with an offset is
converted to UTC, a naive timestamp is refused); energies are kWh, positive = consumption; a
profile slice ``{"minDuration": d, "maxDuration": d, "energyConstraintList": [{"lower": L,
"upper": U}]}`` is ``d`` intervals of ``[L/d, U/d]``; a schedule slice ``{"duration": d,
"energyAmount": E}`` is ``d`` intervals of ``E/d``.

Reading collects every problem of the document (offer id, or ``flexOffers[i]`` when the id is
missing, and field) and raises one :class:`FlexOfferValidationError`; malformed JSON in a file
raises :class:`DataError` naming the path, line and column. The parsed batch is then validated
with :func:`validate_flexoffers`. Writing merges consecutive intervals with identical bounds and
identical schedule energies into one slice, choosing slice totals whose division by the duration
gives back the interval values bit for bit, so read → write → read is exact. Schedules are written
slice-aligned: schedule slice ``j`` has the duration of profile slice ``j`` (a profile slice is cut
where a schedule's energy changes); schedules whose slices span several profile slices (the
merged form other tools may write) are still read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridflex.errors import DataError, FlexOfferValidationError, Problem
from gridflex.flexoffer.jsonparse import PROFILE, SCHEDULES, _gc_paused, _parse, _Parser, _to_slice_fields
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch, Schedule
from gridflex.flexoffer.validate import check_flexoffers, validate_flexoffers

__all__ = [
    "MEMBERS_FIELD",
    "FlexOfferDocument",
    "flexoffer_document_from_json",
    "flexoffers_from_json",
    "flexoffers_to_json",
    "load_json",
    "member_groups",
    "read_flexoffer_document",
    "read_flexoffers",
    "write_flexoffers",
]

_WHAT = "flex-offer JSON"
MEMBERS_FIELD = "gridflexMembers"
"""gridflex extension on an aggregated offer: the ids of the member offers it aggregates."""

Members = list[list[str] | None]


# ---- writing ----------------------------------------------------------------------------------


def _iso(t: np.ndarray) -> list[str | None]:
    """ISO 8601 UTC strings ('...Z') for int64 seconds; None where the time is absent."""
    present = t != NO_TIME
    text = np.datetime_as_string(np.where(present, t, 0).astype("datetime64[s]"), unit="s").tolist()
    return [s + "Z" if p else None for s, p in zip(text, present.tolist(), strict=True)]


def _as_written(values: np.ndarray) -> np.ndarray:
    """float64 energies as they are; float32 ones (compact storage) as the float64 of their shortest
    decimal that round-trips in float32 (``1.85``, not ``1.850000023841858``): read back and stored in
    float32 again, every value is the same, and the file shows the digits the offer holds."""
    if values.dtype != np.float32:
        return values
    out = np.empty(len(values))
    for a in range(0, len(values), _DECIMAL_CHUNK):
        out[a : a + _DECIMAL_CHUNK] = values[a : a + _DECIMAL_CHUNK].astype(str).astype(np.float64)
    return out


_DECIMAL_CHUNK = 1 << 16


def _exact_totals(v: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Slice totals ``T`` with ``T / d == v`` exactly, preferring short decimals; NaN if none found
    (some values, e.g. 0.1 over 3 intervals, have no such total: those runs are written unmerged)."""
    c = v * d
    out = np.full(len(v), np.nan)
    done = np.zeros(len(v), dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        up, down = np.nextafter(c, np.inf), np.nextafter(c, -np.inf)
        candidates = (
            np.round(c, 6),
            np.round(c, 9),
            c,
            up,
            down,
            np.nextafter(up, np.inf),
            np.nextafter(down, -np.inf),
        )
        for cand in candidates:
            ok = ~done & (cand / d == v)
            out[ok] = cand[ok]
            done |= ok
    return out


def _merge(batch: FlexOfferBatch, columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list]:
    """Merge runs of equal values (in all ``columns``) inside each profile into slices.

    Returns per-offer slice offsets (n+1), slice durations and, per column, the slice totals.
    A run whose totals cannot reproduce the interval values exactly is split into single intervals.
    """
    total = len(batch.lower_kwh)
    start = batch.position == 0
    for col in columns:
        start[1:] |= col[1:] != col[:-1]
    for _ in range(2):
        first = np.flatnonzero(start)
        dur = np.diff(np.append(first, total))
        totals = [_exact_totals(col[first], dur) for col in columns]
        bad = np.zeros(len(first), dtype=bool)
        for t in totals:
            bad |= np.isnan(t)
        if not bad.any():
            break
        start[np.repeat(bad, dur)] = True
    counts = np.bincount(batch.owner_index[first], minlength=len(batch))
    return np.concatenate(([0], np.cumsum(counts))), dur, totals


def _schedule_json(sched: Schedule, soff: np.ndarray, dur: np.ndarray, tot: np.ndarray) -> list[dict | None]:
    """Schedules sliced like the profile (``soff``, ``dur``): schedule slice j is profile slice j."""
    present = sched.start_s != NO_TIME
    slices = [{"duration": d, "energyAmount": e} for d, e in zip(dur.tolist(), tot.tolist(), strict=True)]
    starts = _iso(sched.start_s)
    so = soff.tolist()
    return [
        {"startTime": starts[i], "scheduleSlices": slices[so[i] : so[i + 1]]} if p else None
        for i, p in enumerate(present.tolist())
    ]


def flexoffers_to_json(
    batch: FlexOfferBatch, members: Sequence[Sequence[str] | None] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``{"flexOffers": [...]}`` for a valid batch (raises :class:`FlexOfferValidationError` otherwise).

    ``members``: per offer, the ids written as its ``gridflexMembers`` (None: none for that offer).
    """
    check_flexoffers(batch, "flex-offers to write")
    _check_members(batch, members)
    with _gc_paused():
        doc = _to_json(batch)
        if members is not None:
            _add_members(doc["flexOffers"], members)
        return doc


def _check_members(batch: FlexOfferBatch, members: Sequence | None) -> None:
    if members is not None and len(members) != len(batch):
        raise FlexOfferValidationError(
            "flex-offers to write",
            [Problem("batch", MEMBERS_FIELD, f"{len(members)} member lists for {len(batch)} offers")],
        )


def _add_members(offers: list[dict[str, Any]], members: Sequence[Sequence[str] | None]) -> None:
    for fo, ids in zip(offers, members, strict=True):
        if ids is not None:
            fo[MEMBERS_FIELD] = list(ids)


def _to_json(batch: FlexOfferBatch) -> dict[str, list[dict[str, Any]]]:
    n = len(batch)
    # One slicing for the profile and every schedule: schedule slice j covers exactly profile slice j
    # (as the specification reads them), so a run is cut wherever the bounds or any schedule change.
    present = [
        (name, s) for name, s in zip(SCHEDULES, (batch.default, batch.schedule), strict=True) if s is not None
    ]
    energies = [
        np.where((s.start_s != NO_TIME)[batch.owner_index], _as_written(s.energy_kwh), 0.0)
        for _, s in present
    ]
    columns = [_as_written(batch.lower_kwh), _as_written(batch.upper_kwh), *energies]
    soff, dur, (tot_lo, tot_hi, *tot_sched) = _merge(batch, columns)
    slices = [
        {"minDuration": d, "maxDuration": d, "energyConstraintList": [{"lower": lo, "upper": hi}]}
        for d, lo, hi in zip(dur.tolist(), tot_lo.tolist(), tot_hi.tolist(), strict=True)
    ]
    so = soff.tolist()
    ids, owners = batch.ids.tolist(), batch.owners.tolist()
    est, lst = _iso(batch.est_s), _iso(batch.lst_s)
    acc, asg = _iso(batch.accept_before_s), _iso(batch.assign_before_s)
    tec = [
        {k: v for k, v in (("lower", a), ("upper", b)) if v == v}
        for a, b in zip(batch.tec_lower_kwh.tolist(), batch.tec_upper_kwh.tolist(), strict=True)
    ]
    prices = [
        {k: v for k, v in (("aboveDefaultEurPerMWh", a), ("belowDefaultEurPerMWh", b)) if v == v}
        for a, b in zip(
            batch.price_above_eur_per_mwh.tolist(), batch.price_below_eur_per_mwh.tolist(), strict=True
        )
    ]
    scheds = {
        name: _schedule_json(s, soff, dur, tot) for (name, s), tot in zip(present, tot_sched, strict=True)
    }
    ivl = int(batch.interval_s)
    out = []
    for i in range(n):
        fo: dict[str, Any] = {
            "id": ids[i],
            "offeredById": owners[i],
            "startAfterTime": est[i],
            "startBeforeTime": lst[i],
            "numSecondsPerInterval": ivl,
            PROFILE: slices[so[i] : so[i + 1]],
        }
        if tec[i]:
            fo["totalEnergyConstraint"] = tec[i]
        if acc[i] is not None:
            fo["acceptBeforeTime"] = acc[i]
        if asg[i] is not None:
            fo["assignmentBeforeTime"] = asg[i]
        for name, values in scheds.items():
            if values[i] is not None:
                fo[name] = values[i]
        if prices[i]:
            fo["unitPrices"] = prices[i]
        out.append(fo)
    return {"flexOffers": out}


_CHUNK_OFFERS = 20_000  # offers encoded or decoded at a time: memory stays bounded for big files


def write_flexoffers(
    batch: FlexOfferBatch,
    path: str | os.PathLike[str],
    indent: int | None = None,
    members: Sequence[Sequence[str] | None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Write ``batch`` as FlexOffer JSON to ``path``, with the ``gridflexMembers`` of each offer when
    ``members`` is given (see :func:`flexoffers_to_json`).

    Without ``indent``: one offer per line, encoded and written in chunks of offers, so a million
    offers take little memory beyond the batch (and read back in chunks, see :func:`read_flexoffers`);
    ``progress(offers written, offers)`` is called after each chunk.
    """
    if indent is not None:
        obj = flexoffers_to_json(batch, members)
        with _gc_paused():
            text = json.dumps(obj, indent=indent, allow_nan=False, ensure_ascii=False)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    check_flexoffers(batch, "flex-offers to write")
    _check_members(batch, members)
    n = len(batch)
    with open(path, "w", encoding="utf-8") as f, _gc_paused():
        f.write('{"flexOffers": [\n')
        for m0 in range(0, n, _CHUNK_OFFERS):
            m1 = min(n, m0 + _CHUNK_OFFERS)
            part = batch if (m0, m1) == (0, n) else batch.take(np.arange(m0, m1))
            offers = _to_json(part)["flexOffers"]
            if members is not None:
                _add_members(offers, members[m0:m1])
            if m0:
                f.write(",\n")
            f.write(",\n".join(json.dumps(fo, allow_nan=False, ensure_ascii=False) for fo in offers))
            if progress is not None:
                progress(m1, n)
        f.write("\n]}\n")


@dataclass(frozen=True, eq=False)
class FlexOfferDocument:
    """A FlexOffer JSON document, parsed once: the validated batch and the ``gridflexMembers``
    extension of each offer (``members`` is None when no offer has it; an offer without it has None)."""

    batch: FlexOfferBatch
    members: Members | None = None


def _items(obj: object, what: str) -> list:
    if isinstance(obj, dict):
        items = obj.get("flexOffers")
        if not isinstance(items, list):
            raise FlexOfferValidationError(
                what, [Problem("document", "flexOffers", "missing or not a list of offers")]
            )
        return items
    if isinstance(obj, list):
        return obj
    raise FlexOfferValidationError(
        what,
        [Problem("document", "", f"expected {{'flexOffers': [...]}} or a list, not {type(obj).__name__}")],
    )


def _members(raw: list, ids: np.ndarray) -> tuple[Members | None, list[Problem]]:
    """The ``gridflexMembers`` list of each offer (None where absent) and the problems of their shape."""
    if all(m is None for m in raw):
        return None, []
    problems = []
    out: Members = []
    for oid, m in zip(ids.tolist(), raw, strict=True):
        if m is not None and not (isinstance(m, list) and all(isinstance(x, str) and x for x in m)):
            problems.append(Problem(oid, MEMBERS_FIELD, "expected a list of member ids (non-empty strings)"))
            m = None
        out.append(m)
    return out, problems


def _document(chunks: Iterable[list], what: str, all_items: Callable[[], list]) -> FlexOfferDocument:
    """Parse the offers chunk by chunk (each chunk's dicts are dropped once parsed), then validate.
    ``all_items`` gives every offer again, only to name slices in problems found by validation."""
    parser = _Parser()
    raw_members: list = []
    start = 0
    with _gc_paused():
        for items in chunks:
            parser.extend(_parse(items, start, parser.times))
            raw_members.extend(fo.get(MEMBERS_FIELD) if isinstance(fo, dict) else None for fo in items)
            start += len(items)
    if parser.problems:
        raise FlexOfferValidationError(what, parser.problems)
    batch = parser.build()
    members, problems = _members(raw_members, batch.ids)
    problems += validate_flexoffers(batch)
    if problems:
        raise FlexOfferValidationError(what, _to_slice_fields(problems, all_items()))
    return FlexOfferDocument(batch, members)


def flexoffer_document_from_json(
    obj: dict[str, Any] | list[Any], source: str | None = None
) -> FlexOfferDocument:
    """A validated batch and its ``gridflexMembers`` from a parsed FlexOffer JSON document:
    ``{"flexOffers": [...]}`` or a bare list.

    Raises :class:`FlexOfferValidationError` carrying every problem found (structure, types,
    times, the members extension, then the rules of :func:`validate_flexoffers`); ``source`` (a
    path) names the document in its message.
    """
    what = _WHAT if source is None else f"{_WHAT} {source}"
    items = _items(obj, what)
    return _document([items], what, lambda: items)


def flexoffers_from_json(obj: dict[str, Any] | list[Any]) -> FlexOfferBatch:
    """A validated batch from a parsed FlexOffer JSON document: ``{"flexOffers": [...]}`` or a bare list.

    Raises :class:`FlexOfferValidationError` carrying every problem found (structure, types,
    times, then the rules of :func:`validate_flexoffers`).
    """
    return flexoffer_document_from_json(obj).batch


def _read_text(path: str | os.PathLike[str], what: str) -> str:
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise DataError(f"cannot read {what} from {where}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise DataError(f"cannot read {what} from {where}: {e.strerror or e}") from None
    if not text.strip():
        raise DataError(f"cannot read {what} from {where}: the file is empty")
    return text


@contextmanager
def _json_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    where = os.fspath(path)
    try:
        yield
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON in {where} at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise DataError(f"malformed JSON in {where}: nested too deeply") from None


def _decode(text: str, path: str | os.PathLike[str]) -> Any:
    with _json_errors(path), _gc_paused():
        return json.loads(text)


def load_json(path: str | os.PathLike[str], what: str = "flex-offers") -> Any:
    """The decoded JSON of a file; :class:`DataError` naming the path (and ``what`` was read) for a
    missing, binary, empty, malformed or too deeply nested file."""
    return _decode(_read_text(path, what), path)


_JSON_WS = "[ \t\n\r]*"
_WS = re.compile(_JSON_WS)
_HEAD = re.compile(f'{_JSON_WS}(?:(\\{{){_JSON_WS}"flexOffers"{_JSON_WS}:{_JSON_WS})?\\[')


class _NotPlain(Exception):
    """The document has more than the list of offers: decode it whole."""


def _chunks(text: str, progress: Callable[[int, int], None] | None = None) -> Iterator[list]:
    """The offers of ``{"flexOffers": [...]}`` or ``[...]`` decoded a chunk at a time with the C
    decoder; raises :class:`_NotPlain` for any other layout (e.g. more keys beside ``flexOffers``)."""
    head = _HEAD.match(text)
    if head is None:
        raise _NotPlain
    closing = "}" if head.group(1) else ""
    decode = json.JSONDecoder().raw_decode

    def skip(i: int) -> int:  # past JSON whitespace (the pattern matches the empty string too)
        m = _WS.match(text, i)
        return i if m is None else m.end()

    i = skip(head.end())
    done = text.startswith("]", i)
    i += done
    while not done:
        chunk: list[Any] = []
        while len(chunk) < _CHUNK_OFFERS:
            item, i = decode(text, i)
            chunk.append(item)
            i = skip(i)
            if text.startswith(",", i):
                i = skip(i + 1)
            elif text.startswith("]", i):
                i, done = i + 1, True
                break
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
        if progress is not None:
            progress(i, len(text))
        yield chunk
    if text[i:].strip(" \t\n\r") != closing:
        raise _NotPlain


def read_flexoffer_document(
    path: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None
) -> FlexOfferDocument:
    """Read a FlexOffer JSON file once: the validated batch and its ``gridflexMembers``.

    ``{"flexOffers": [...]}`` and bare lists are decoded a chunk of offers at a time, so the decoded
    JSON of a big file never sits in memory whole (other layouts are decoded whole);
    ``progress(characters decoded, characters)`` is called after each chunk."""
    text = _read_text(path, "flex-offers")
    source = os.fspath(path)
    what = f"{_WHAT} {source}"

    def all_items() -> list:
        return _items(_decode(text, path), what)

    try:
        with _json_errors(path):
            return _document(_chunks(text, progress), what, all_items)
    except _NotPlain:
        return flexoffer_document_from_json(_decode(text, path), source)


def read_flexoffers(path: str | os.PathLike[str]) -> FlexOfferBatch:
    """Read and validate a FlexOffer JSON file (see :func:`flexoffers_from_json`)."""
    return read_flexoffer_document(path).batch


def member_groups(
    members: FlexOfferBatch, aggregates: FlexOfferDocument, members_name: str = "members"
) -> np.ndarray:
    """Group id per member (the index of the aggregate listing it in ``gridflexMembers``).

    Raises :class:`FlexOfferValidationError` naming each aggregate without the list, each listed id
    not among ``members`` or listed twice, and each member no aggregate lists.
    """
    what = f"{MEMBERS_FIELD} of the aggregates"
    agg_ids = aggregates.batch.ids.tolist()
    lists = aggregates.members or [None] * len(agg_ids)
    problems: list[Problem] = []
    pos = {m: i for i, m in enumerate(members.ids.tolist())}
    group = np.full(len(members), -1, dtype=np.int64)
    for g, (aid, ids) in enumerate(zip(agg_ids, lists, strict=True)):
        if ids is None:
            problems.append(
                Problem(aid, MEMBERS_FIELD, "missing: run 'gridflex flexoffers aggregate' to get it")
            )
            continue
        for mid in ids:
            i = pos.get(mid)
            if i is None:
                problems.append(Problem(aid, MEMBERS_FIELD, f"member {mid!r} is not in the {members_name}"))
            elif group[i] >= 0:
                other = agg_ids[group[i]]
                problems.append(Problem(aid, MEMBERS_FIELD, f"member {mid!r} is listed by {other!r} too"))
            else:
                group[i] = g
        if len(problems) > 100:  # enough to name the fault; not millions of lines
            break
    if not problems and (group < 0).any():
        lost = np.flatnonzero(group < 0)
        problems += [
            Problem(str(members.ids[i]), "id", "belongs to no aggregate (no gridflexMembers lists it)")
            for i in lost[:20]
        ]
    if problems:
        raise FlexOfferValidationError(what, problems)
    return group

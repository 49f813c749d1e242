"""Limits of the flex-offer commands, checked up front (before any long computation).

The library functions take any size memory allows; the command line (``gridflex flexoffers ...``,
``gridflex demo``) refuses input beyond these limits with one line naming the file, offer and field,
instead of running for minutes or running out of memory. ``docs/flexoffer-format.md`` lists them.
"""

from __future__ import annotations

import numpy as np

from gridflex.errors import FlexOfferValidationError, Problem
from gridflex.flexoffer.model import FlexOfferBatch

__all__ = [
    "MAX_DEVICES",
    "MAX_FILE_BYTES",
    "MAX_HORIZON_S",
    "MAX_INTERVAL_S",
    "MAX_OFFERS",
    "MAX_SCHEDULE_ELEMENTS",
    "MAX_WINDOW_S",
    "MIN_INTERVAL_S",
    "check_batch_limits",
    "schedule_elements",
]

DAY_S = 86_400
MAX_OFFERS = 2_000_000
"""Flex-offers per file."""
MAX_FILE_BYTES = 2 * 1024**3
"""Size of a flex-offer JSON file (2 GiB; 1e6 offers of the generated fleet take about 0.5 GB)."""
MAX_DEVICES = 1_000_000
"""Devices of a generated fleet (``flexoffers generate``, ``demo``)."""
MAX_WINDOW_S = 31 * DAY_S
"""Start window of an offer (startBeforeTime − startAfterTime) and length of its profile: 31 days."""
MAX_HORIZON_S = 366 * DAY_S
"""Time spanned by the offers of one file, from the earliest start to the latest end: 366 days."""
MIN_INTERVAL_S = 60
MAX_INTERVAL_S = DAY_S
"""numSecondsPerInterval between 60 s and one day."""
MAX_SCHEDULE_ELEMENTS = 20_000_000
"""(offer, start, interval) triples a schedule may weigh: Σ (time flexibility + 1) · profile length.
About 1.5 GB of working memory; aggregate the offers first to stay below."""

_SHOWN = 5


def _days(s: float) -> str:
    return f"{s / DAY_S:g} days"


def schedule_elements(batch: FlexOfferBatch) -> int:
    """Σ over offers of (time flexibility + 1) · profile length: the size of the scheduling model."""
    return int(((batch.time_flex + 1) * batch.lengths).sum())


def check_batch_limits(batch: FlexOfferBatch, what: str) -> None:
    """Raise :class:`FlexOfferValidationError` naming the offers beyond the limits (``what``: the file)."""
    problems: list[Problem] = []
    n = len(batch)
    if n == 0:
        problems.append(Problem("document", "flexOffers", "no flex-offers: the list is empty"))
    if n > MAX_OFFERS:
        problems.append(Problem("document", "flexOffers", f"{n:,} offers, at most {MAX_OFFERS:,} per file"))
    if problems:
        raise FlexOfferValidationError(what, problems)
    ivl = batch.interval_s
    if not MIN_INTERVAL_S <= ivl <= MAX_INTERVAL_S:
        problems.append(
            Problem(
                str(batch.ids[0]),
                "numSecondsPerInterval",
                f"{ivl} s, the commands take {MIN_INTERVAL_S} s to {MAX_INTERVAL_S} s",
            )
        )
        raise FlexOfferValidationError(what, problems)

    def per_offer(bad: np.ndarray, field: str, message: str) -> None:
        idx = np.flatnonzero(bad)
        problems.extend(Problem(str(batch.ids[i]), field, message) for i in idx[:_SHOWN])
        if len(idx) > _SHOWN:
            problems.append(Problem("document", field, f"{len(idx) - _SHOWN:,} more offers: {message}"))

    window = batch.lst_s - batch.est_s
    per_offer(
        window > MAX_WINDOW_S,
        "startBeforeTime",
        f"start window longer than {_days(MAX_WINDOW_S)} (the limit of the commands)",
    )
    per_offer(
        batch.lengths * ivl > MAX_WINDOW_S,
        "flexOfferProfileConstraints",
        f"profile longer than {_days(MAX_WINDOW_S)} (the limit of the commands)",
    )
    if not problems:
        span = int((batch.lst_s + batch.lengths * ivl).max() - batch.est_s.min())
        if span > MAX_HORIZON_S:
            first, last = int(np.argmin(batch.est_s)), int(np.argmax(batch.lst_s + batch.lengths * ivl))
            problems.append(
                Problem(
                    "document",
                    "startAfterTime",
                    f"the offers span {_days(span)} (from {batch.ids[first]!r} to {batch.ids[last]!r}), "
                    f"at most {_days(MAX_HORIZON_S)} per file",
                )
            )
    if problems:
        raise FlexOfferValidationError(what, problems)

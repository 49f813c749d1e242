"""One exception hierarchy for gridflex.

::

    GridflexError                      base: every error gridflex raises on purpose
    ├── ValidationError                input broke rules; carries a list of Problem
    │   ├── FlexOfferValidationError   flex-offers (ids and fields named)
    │   ├── MarketError                market input that cannot be cleared as a whole (requests, network, tender)
    │   └── NetworkError               a distribution network cannot be used (element named)
    ├── DataError                      a data file cannot be read or parsed (path, row, column)
    ├── TimeGridError                  series or times that do not fit a TimeGrid
    ├── ModelError                     an optimisation model was built inconsistently
    ├── SolverError                    HiGHS failed or stopped early (status named)
    │   ├── InfeasibleError            no solution; carries the constraint groups that cannot be met
    │   │   └── SiteInfeasibleError    a site cannot be scheduled; carries one Problem per asset
    │   └── UnboundedError             objective can decrease without limit
    └── DisaggregationError            an aggregate schedule cannot be split over its members

Validation collects, assertion raises: ``validate_*`` functions return ``list[Problem]``;
the public entry points raise one of these errors carrying that list. Messages list the first
``MAX_SHOWN`` of them (:func:`capped`); ``.problems`` keeps them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One structured problem found in the input: which object, which field, what is wrong."""

    object_id: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.object_id}.{self.field}" if self.field else self.object_id
        return f"{where}: {self.message}"


MAX_SHOWN = 10
"""How many problems an error message lists before "… and N more" (all stay in ``.problems``)."""


def unique(problems: list[Problem]) -> list[Problem]:
    """The problems without repeats (same object, field and message), in their first order."""
    return list(dict.fromkeys(problems))


def capped(
    problems: list[Problem],
    n: int = MAX_SHOWN,
    total: int | None = None,
    show: Callable[[Problem], str] = str,
) -> str:
    """The first ``n`` problems joined by "; ", then "… and N more" (``total``: how many there are,
    when ``problems`` holds only the first of them; ``show``: how one problem is written)."""
    shown = "; ".join(show(p) for p in problems[:n])
    more = (len(problems) if total is None else total) - min(n, len(problems))
    return shown + (f"; … and {more} more" if more > 0 else "")


class GridflexError(Exception):
    """Base of every error gridflex raises on purpose."""


class ValidationError(GridflexError):
    """Input broke one or more rules; ``problems`` lists each of them."""

    def __init__(self, what: str, problems: list[Problem], max_shown: int = MAX_SHOWN) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in {what}: {capped(self.problems, max_shown)}")


class FlexOfferValidationError(ValidationError):
    """One or more flex-offers are invalid."""


class MarketError(ValidationError):
    """Market input that cannot be cleared as a whole (bad orders alone are rejected one by one)."""


class NetworkError(ValidationError):
    """A distribution network is refused: islands without a source, missing parameters, unknown elements."""


class DataError(GridflexError):
    """A data file cannot be read or parsed."""


class TimeGridError(GridflexError):
    """Times or series that do not fit a time grid."""


class ModelError(GridflexError):
    """An optimisation model was built with inconsistent arrays."""


class SolverError(GridflexError):
    """The solver failed or stopped without an optimal solution."""

    def __init__(self, message: str, status: str = "") -> None:
        self.status = status
        super().__init__(message)


class InfeasibleError(SolverError):
    """No feasible solution; ``groups`` names the constraint groups that cannot be met together."""

    def __init__(self, message: str, groups: list[str] | None = None) -> None:
        self.groups = list(groups or [])
        super().__init__(message, status="infeasible")


class SiteInfeasibleError(InfeasibleError):
    """The site cannot be scheduled; ``problems`` says why per asset, in human terms."""

    def __init__(self, message: str, problems: list[Problem], groups: list[str] | None = None) -> None:
        self.problems = list(problems)
        super().__init__(message, groups=groups)

    @classmethod
    def of(cls, site: str, problems: list[Problem], groups: list[str] | None = None) -> SiteInfeasibleError:
        """The error of site ``site`` with its problems' messages, capped at ``MAX_SHOWN``."""
        text = capped(problems, show=lambda p: p.message)
        return cls(f"site '{site}' is infeasible: {text}", problems, groups=groups)


class UnboundedError(SolverError):
    """The objective can decrease without limit: a cost or a bound is missing."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status="unbounded")


class DisaggregationError(GridflexError):
    """An aggregate schedule cannot be split over its members; ``problems`` names each aggregate or
    member, field and reason (empty only when raised without them)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems = list(problems or [])
        super().__init__(message)

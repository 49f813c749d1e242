"""One exception hierarchy for gridflex.

::

    GridflexError                      base: every error gridflex raises on purpose
    ├── ValidationError                input broke rules; carries a list of Problem
    │   ├── FlexOfferValidationError   flex-offers (ids and fields named)
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
the public entry points raise one of these errors carrying that list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One structured problem found in the input: which object, which field, what is wrong."""

    object_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.object_id}.{self.field}: {self.message}"


class GridflexError(Exception):
    """Base of every error gridflex raises on purpose."""


class ValidationError(GridflexError):
    """Input broke one or more rules; ``problems`` lists each of them."""

    def __init__(self, what: str, problems: list[Problem], max_shown: int = 10) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:max_shown])
        more = len(self.problems) - max_shown
        suffix = f"; … and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.problems)} problem(s) in {what}: {shown}{suffix}")


class FlexOfferValidationError(ValidationError):
    """One or more flex-offers are invalid."""


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


class UnboundedError(SolverError):
    """The objective can decrease without limit: a cost or a bound is missing."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status="unbounded")


class DisaggregationError(GridflexError):
    """An aggregate schedule cannot be split over its members."""

"""The entries of site scheduling, above what they dispatch to: a site with services (or the
``two_loop`` strategy) goes through its strategy (``strategies``), a site without through the hub (``hub``); a file in gives files out
(what ``gridflex schedule`` calls; the CLI adds the HTML report, an adapter)."""

from __future__ import annotations

import time
from pathlib import Path

from gridflex.scheduling.hub import build_site_model, checked_site, solve_site_model
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.site import CompiledSite, SiteLike, compile_site
from gridflex.scheduling.strategies import run_strategy


def schedule_site(site: SiteLike, time_limit_s: float | None = None, mip_rel_gap: float = 1e-6) -> SiteResult:
    """Schedule a site at least cost; raise :class:`SiteInfeasibleError` with asset-level reasons.

    ``site``: a :class:`Site`, a :class:`CompiledSite` (not compiled again), a site file's path or
    its dict.
    """
    t0 = time.perf_counter()
    compiled = compile_site(site)
    if compiled.products or compiled.site.strategy.name == "two_loop":  # the strategy prechecks the site
        return run_strategy(compiled, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    sm = build_site_model(checked_site(compiled))
    sm.time_build_s = time.perf_counter() - t0  # compile, prechecks and build
    return solve_site_model(sm, time_limit_s, mip_rel_gap)


def run_schedule_file(
    site_path: str | Path, out_json: str | Path, csv: str | Path | None = None
) -> tuple[CompiledSite, SiteResult]:
    """Load a site file, schedule it, write the result as JSON (and the per-period table as CSV).

    Returns the compiled site too: its prices and services feed the report.
    """
    compiled = compile_site(site_path)  # read, validated and compiled once
    result = schedule_site(compiled)
    result.to_json(out_json)
    if csv is not None:
        result.to_csv(csv)
    return compiled, result

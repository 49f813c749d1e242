"""The main job, part 2: a multi-energy office site (PV, battery, heat pump with buffer, EV chargers)
stacking day-ahead arbitrage, FCR and a DSO contract, its strategies compared, and a site HTML report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gridflex.scheduling import CompiledSite, SiteResult

SITE_STEPS = ("site", "strategies")
DEMO_SITE = "office_services.yaml"
"""The packaged demo site (a copy of examples/sites/office_services.yaml; a test keeps them equal)."""


@dataclass
class SiteDemoResult:
    compiled: CompiledSite
    result: SiteResult  # co-optimised
    strategies: pd.DataFrame  # one column per strategy
    timings_s: dict[str, float] = field(default_factory=dict)


def demo_site_path() -> Path:
    """The packaged office site with services."""
    from importlib import resources

    return Path(str(resources.files("gridflex") / "data" / "sites" / DEMO_SITE))


def run_site_demo(on_step: Callable[[str, float], None] | None = None) -> SiteDemoResult:
    """Schedule the office (co-optimised energy + FCR + DSO contract) and compare the strategies."""
    from gridflex.scheduling import compare_strategies, compile_site, schedule_site

    t = time.perf_counter()
    compiled = compile_site(demo_site_path())  # read, validated and compiled once
    result = schedule_site(compiled)
    timings = {"site": time.perf_counter() - t}
    if on_step:
        on_step("site", timings["site"])
    t = time.perf_counter()
    strategies = compare_strategies(compiled)
    timings["strategies"] = time.perf_counter() - t
    if on_step:
        on_step("strategies", timings["strategies"])
    return SiteDemoResult(compiled, result, strategies, timings)


def write_site_demo_report(site: SiteDemoResult, path: str | Path) -> Path:
    from gridflex.reports.site import write_site_report

    return write_site_report(site.result, path, prices=site.compiled.prices, strategies=site.strategies)

"""File in, files out: what ``gridflex schedule`` calls (the CLI adds the HTML report, an adapter)."""

from __future__ import annotations

from pathlib import Path

from gridflex.scheduling.hub import schedule_site
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.site import CompiledSite, compile_site, load_site


def run_schedule_file(
    site_path: str | Path, out_json: str | Path, csv: str | Path | None = None
) -> tuple[CompiledSite, SiteResult]:
    """Load a site file, schedule it, write the result as JSON (and the per-period table as CSV).

    Returns the compiled site too: its prices and services feed the report.
    """
    compiled = compile_site(load_site(site_path))
    result = schedule_site(compiled)
    result.to_json(out_json)
    if csv is not None:
        result.to_csv(csv)
    return compiled, result

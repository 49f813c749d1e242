"""File in, files out: what ``gridflex schedule`` calls."""

from __future__ import annotations

from pathlib import Path

from gridflex.scheduling.hub import schedule_site
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.site import load_site


def run_schedule_file(
    site_path: str | Path, out_json: str | Path, csv: str | Path | None = None
) -> SiteResult:
    """Load a site file, schedule it, write the result as JSON (and the per-period table as CSV)."""
    result = schedule_site(load_site(site_path))
    result.to_json(out_json)
    if csv is not None:
        result.to_csv(csv)
    return result

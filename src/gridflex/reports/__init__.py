"""Offline HTML reports (adapters over plotly): flex-offer lifecycle, site schedules, evaluations, S2 runs."""

"""Self-contained HTML reports: plotly figures with the plotly.js library embedded (works offline)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio


@dataclass
class Section:
    """A heading, an optional paragraph, and a figure or a table (rows of label/value)."""

    title: str
    text: str = ""
    figure: go.Figure | None = None
    table: Sequence[tuple[str, str]] | None = None


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td{padding:.2rem .8rem;border-bottom:1px solid #eee}
td:first-child{color:#555}.note{color:#666;font-size:.9rem}
"""


def write_report(path: str | Path, title: str, sections: Sequence[Section], footer: str = "") -> Path:
    """Write one HTML file; plotly.js is embedded once so the page needs no network."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    js_done = False
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        if s.table:
            rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in s.table)
            parts.append(f"<table>{rows}</table>")
        if s.figure is not None:
            parts.append(pio.to_html(s.figure, full_html=False, include_plotlyjs=not js_done))
            js_done = True
    if footer:
        parts.append(f"<p class='note'>{html.escape(footer)}</p>")
    parts.append("</body></html>")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
    return out

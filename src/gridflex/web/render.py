"""Templates and the formatting every page shares: numbers with separators, times in UTC, units."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

__all__ = ["fmt_num", "fmt_time", "render", "templates"]

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def fmt_num(x: float | None, digits: int = 1) -> str:
    """``12345.678`` → ``12,345.7``; ``None`` or NaN → an em dash (no value)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:,.{digits}f}"


def fmt_time(t: datetime | None, with_date: bool = True) -> str:
    """Aware time → ``2026-06-02 13:45 UTC`` (every page shows UTC and says so)."""
    if t is None:
        return "—"
    u = t.astimezone(UTC)
    return u.strftime("%Y-%m-%d %H:%M UTC" if with_date else "%H:%M")


templates.env.filters["num"] = fmt_num
templates.env.filters["utc"] = fmt_time
templates.env.filters["iso"] = lambda t: t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)

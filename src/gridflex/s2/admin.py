"""The ``/admin`` commands checked before anything runs: every field's type, value and size.

A command is one JSON object (see :meth:`gridflex.s2.server.CEM.admin_command`). :func:`check_command`
returns its normalised arguments or raises :class:`AdminError` naming the field, so a bad command
gets ``{"ok": false, "error": "<field>: ..."}`` and never reaches the CEM's state (nor its log as a
traceback). JSON's ``Infinity`` / ``NaN`` parse, then are refused here with the field's name.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

ACTIONS = ("set_congestion_limit", "clear_congestion_limit", "status")
FIELDS = {"action", "import_kw", "export_kw", "start", "step_s"}
MAX_LIMIT_VALUES = 10_000
"""Values in one limit series (a week of minutes); longer ones are refused, not truncated."""
MAX_LIMIT_KW = 1e6
"""The largest congestion limit accepted (kW): a building's connection is far below 1 GW."""
MAX_STEP_S = 7 * 86400


class AdminError(ValueError):
    """A bad ``/admin`` command; the message starts with the field."""


def _number(value: Any, where: str, lo: float, hi: float, unit: str) -> float:
    # bool is an int in Python: `true` must not become 1 kW
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminError(f"{where}: must be a number ({unit}), got {_kind(value)}")
    x = float(value)
    if not (math.isfinite(x) and lo <= x <= hi):
        raise AdminError(f"{where}: must be a finite number in {lo:g}..{hi:g} {unit}, got {x:g}")
    return x


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise AdminError(f"{where}: must be an ISO 8601 time with a time zone, got {_kind(value)}")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise AdminError(f"{where}: {value!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise AdminError(f"{where}: {value!r} has no time zone")
    return t


def _kind(value: Any) -> str:
    return "null" if value is None else {bool: "a boolean", str: "a string", dict: "an object",
                                         list: "a list"}.get(type(value), type(value).__name__)  # fmt: skip


def _limit(value: Any, field: str) -> Any:
    """None, kW, a list of kW, or a list of ``[ISO time, kW]`` pairs (see set_congestion_limit)."""
    if value is None:
        return None
    if not isinstance(value, list):
        return _number(value, field, 0.0, MAX_LIMIT_KW, "kW")
    if not value:
        raise AdminError(f"{field}: an empty list (null: no limit)")
    if len(value) > MAX_LIMIT_VALUES:
        raise AdminError(f"{field}: at most {MAX_LIMIT_VALUES} values, got {len(value)}")
    if isinstance(value[0], list):
        out = []
        for i, pair in enumerate(value):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise AdminError(f"{field}[{i}]: must be a pair [ISO time, kW], got {_kind(pair)}")
            out.append((_time(pair[0], f"{field}[{i}][0]"), _number(pair[1], f"{field}[{i}][1]", 0.0,
                                                                    MAX_LIMIT_KW, "kW")))  # fmt: skip
        return out
    return [_number(v, f"{field}[{i}]", 0.0, MAX_LIMIT_KW, "kW") for i, v in enumerate(value)]


def check_command(cmd: Any) -> tuple[str, dict[str, Any]]:
    """The action and its checked arguments; raises :class:`AdminError` naming the bad field."""
    if not isinstance(cmd, dict):
        raise AdminError(f"command: must be a JSON object, got {_kind(cmd)}")
    action = cmd.get("action")
    if action not in ACTIONS:
        shown = repr(action)[:40] if isinstance(action, str) else _kind(action)
        raise AdminError(f"action: {shown} is not one of {', '.join(ACTIONS)}")
    unknown = sorted(str(k)[:40] for k in cmd if k not in FIELDS)
    if unknown:
        raise AdminError(f"{unknown[0]}: unknown field (known: {', '.join(sorted(FIELDS))})")
    args = {k: cmd[k] for k in FIELDS - {"action"} if k in cmd}
    if action != "set_congestion_limit":
        if args:
            raise AdminError(f"{sorted(args)[0]}: not a field of {action}")
        return action, {}
    out: dict[str, Any] = {
        "import_kw": _limit(args.get("import_kw"), "import_kw"),
        "export_kw": _limit(args.get("export_kw"), "export_kw"),
    }
    if args.get("start") is not None:
        out["start"] = _time(args["start"], "start")
    if args.get("step_s") is not None:
        step = _number(args["step_s"], "step_s", 1.0, MAX_STEP_S, "s")
        if step != int(step):
            raise AdminError(f"step_s: must be a whole number of seconds, got {step:g}")
        out["step_s"] = int(step)
    return action, out

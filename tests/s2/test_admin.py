"""`/admin`: every bad command answers {"ok": false, "error": "<field>: ..."}, changes nothing, keeps
the connection open and leaves no traceback in the log."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import pytest
from websockets.asyncio.client import connect

from gridflex.s2.admin import MAX_LIMIT_VALUES, AdminError, check_command
from gridflex.s2.clock import Clock
from gridflex.s2.server import CEM
from tests.s2.helpers import TOKEN, run, small_site

ADMIN = "admin-token"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SET = "set_congestion_limit"

BAD: list[tuple[str, str]] = [
    (json.dumps({"action": SET, "import_kw": {"a": 1}}), "import_kw"),
    ('{"action": "set_congestion_limit", "import_kw": 5, "step_s": Infinity}', "step_s"),
    ('{"action": "set_congestion_limit", "import_kw": NaN}', "import_kw"),
    (json.dumps({"action": SET, "import_kw": 5, "step_s": -900}), "step_s"),
    (json.dumps({"action": SET, "import_kw": 5, "step_s": 0.5}), "step_s"),
    (json.dumps({"action": SET, "import_kw": 5, "step_s": True}), "step_s"),
    (json.dumps({"action": SET, "import_kw": True}), "import_kw"),
    (json.dumps({"action": SET, "export_kw": [1.0, False]}), "export_kw[1]"),
    (json.dumps({"action": SET, "import_kw": -1}), "import_kw"),
    (json.dumps({"action": SET, "import_kw": 1e300}), "import_kw"),
    (json.dumps({"action": SET, "import_kw": [1.0] * 150_000}), "import_kw"),
    (json.dumps({"action": SET, "import_kw": []}), "import_kw"),
    (json.dumps({"action": SET, "import_kw": [["2024-01-01T00:00", 3]]}), "import_kw[0][0]"),
    (json.dumps({"action": SET, "import_kw": [["2024-01-01T00:00Z", "3"]]}), "import_kw[0][1]"),
    (json.dumps({"action": SET, "import_kw": [[1, 2, 3]]}), "import_kw[0]"),
    (json.dumps({"action": SET, "import_kw": 1, "start": 12}), "start"),
    (json.dumps({"action": SET, "import_kw": 1, "start": "yesterday"}), "start"),
    (json.dumps({"action": SET, "import_kw": 1, "colour": "red"}), "colour"),
    (json.dumps({"action": "status", "import_kw": 1}), "import_kw"),
    (json.dumps({"action": ["status"]}), "action"),
    (json.dumps({"action": "nope"}), "action"),
    (json.dumps([1, 2]), "command"),
    ("{not json", "command"),
    ('"status"', "command"),
]


@pytest.mark.parametrize(("frame", "field"), BAD)
def test_check_command_names_the_field(frame: str, field: str) -> None:
    try:
        cmd = json.loads(frame)
    except ValueError:
        return  # the socket test covers frames that do not parse
    with pytest.raises(AdminError) as info:
        check_command(cmd)
    assert str(info.value).startswith(f"{field}:"), info.value


def test_check_command_accepts_the_documented_forms() -> None:
    assert check_command({"action": "status"}) == ("status", {})
    _, args = check_command({"action": SET, "import_kw": 5, "export_kw": [1, 2.5], "step_s": 900.0,
                             "start": "2024-01-01T00:00:00+00:00"})  # fmt: skip
    assert args["import_kw"] == 5.0 and args["export_kw"] == [1.0, 2.5] and args["step_s"] == 900
    _, args = check_command({"action": SET, "import_kw": [["2024-01-01T00:00:00Z", 4]] * MAX_LIMIT_VALUES})
    assert len(args["import_kw"]) == MAX_LIMIT_VALUES


def test_bad_commands_over_the_socket(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        cem = CEM(small_site(), {TOKEN: None, ADMIN: frozenset({"@admin"})}, clock=Clock(1.0, start=T0),
                  ping_interval_s=None)  # fmt: skip
        port = await cem.start("127.0.0.1", 0)
        try:
            hdr = {"Authorization": f"Bearer {ADMIN}"}
            async with connect(f"ws://127.0.0.1:{port}/admin", additional_headers=hdr) as ws:
                await ws.send(json.dumps({"action": SET, "import_kw": [3.0, 4.0]}))
                good = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert good["ok"] and good["import_limit_kw"][:3] == [3.0, 4.0, None]
                for frame, field in BAD:
                    await ws.send(frame)
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    assert reply["ok"] is False and reply["error"].startswith(f"{field}:"), (
                        frame[:80],
                        reply,
                    )
                await ws.send(json.dumps({"action": "status"}))  # still open, nothing changed
                after = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert after["ok"] and after["import_limit_kw"] == good["import_limit_kw"]
        finally:
            await cem.stop()

    with caplog.at_level(logging.DEBUG):
        run(go())
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]

"""The rate limit counts every frame (valid, junk, garbage): a flood of junk gets no flood of replies."""

from __future__ import annotations

import asyncio
import json
import uuid

from websockets.asyncio.client import connect

from gridflex.s2.protocol import Device, Session
from gridflex.s2.server import CEM
from tests.s2.helpers import TOKEN, handshake, msg, run, small_site

JUNK: list[str | bytes] = ["{not json", b"\xff\xfe garbage", "[1, 2]", "{}", '{"message_id": "x"}', "null"]


def test_session_counts_junk_against_the_rate() -> None:
    s = Session(Device("r"), rate_per_s=1e-9, burst=10)
    replies = [r for k in range(1000) for r in s.handle_frame(JUNK[k % len(JUNK)]).replies]
    assert len(replies) == 10 and all(r.status.value == "INVALID_DATA" for r in replies)
    out = s.handle_frame(handshake()).replies  # a frame with an id over the rate: try again later
    assert [r.status.value for r in out] == ["TEMPORARY_ERROR"]


def test_junk_flood_over_the_socket() -> None:
    async def go() -> None:
        cem = CEM(small_site(), {TOKEN: None}, ping_interval_s=None, rate_per_s=1e-9, rate_burst=20)
        port = await cem.start("127.0.0.1", 0)
        try:
            hdr = {"Authorization": f"Bearer {TOKEN}"}
            async with connect(f"ws://127.0.0.1:{port}/s2/{uuid.uuid4()}", additional_headers=hdr) as ws:
                await ws.recv()  # the CEM's Handshake
                for k in range(1000):
                    await ws.send(JUNK[k % len(JUNK)])
                last = msg("PowerMeasurement", measurement_timestamp="2024-01-01T00:00:00Z", values=[])
                await ws.send(last)
                want = json.loads(last)["message_id"]
                statuses = []
                while True:
                    r = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    statuses.append(r["status"])
                    if r["subject_message_id"] == want:
                        break
                assert statuses.count("INVALID_DATA") == 20 and statuses[-1] == "TEMPORARY_ERROR", statuses
                assert len(statuses) == 21
        finally:
            await cem.stop()

    run(go())

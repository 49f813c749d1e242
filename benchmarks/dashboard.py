"""Dashboard render time of dense series in Chromium, printed as one JSON document.

    .venv/bin/python benchmarks/dashboard.py              # a year of 15-min values × 10 series, 15 rounds
    .venv/bin/python benchmarks/dashboard.py --smoke      # 1 round (the test suite)

A real ``gridflex serve`` (SQLite) and Debian's Chromium (``/usr/bin/chromium``, headless, driven by
Playwright). The chart shows 10 series of the SimBench grid ``lv-rural1-storage`` over 2016: 35,136
quarter-hours each (351,360 values), in kW. Figures, medians over ``--rounds``:

* ``first_render``: sign-in page → ``/series``: from navigation start to the chart drawn
  (``ready_ms``), and its parts: the downsampling request (``fetch_ms``, server and transfer) and
  uPlot's draw (``draw_ms``). Target (issue 16): ≤ 1 s.
* ``zoom``: a drag-to-zoom on a 3-week range: the range fetched again at full detail and redrawn.
* ``peer_raw``: the same 351,360 values given to uPlot *without* server-side downsampling: JSON parse
  and draw in the page (the transfer of the ~30x larger payload comes on top; both payload sizes are
  printed). uPlot decimates per pixel when it draws, so the browser's part stays small; what the
  server's downsampling saves is mostly the payload.

CPU time: the server process's (user + system, from ``/proc``) and the page's main thread
(Chromium's ``TaskDuration`` metric) over the whole run; the machine is shared, so wall medians move
with its load and CPU time is the steadier figure. Without Chromium the document says why, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("GRIDFLEX_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
NETWORK = "lv-rural1-storage"


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(tmp: Path) -> tuple[subprocess.Popen[str], str, str]:
    from gridflex.store import Principal, Store

    url = f"sqlite:///{tmp / 'bench.db'}"
    store = Store(url)
    store.upgrade()
    with store.repos(Principal.system()) as r:
        org = r.accounts.create_org("researcher", ["prosumer"])
        secret = r.accounts.create_token(org.id, "bench").secret
    store.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridflex.cli", "serve", "--db", url, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"serving on (http://\S+)", line)
        if m:
            return proc, m[1], secret
    raise RuntimeError("gridflex serve printed no URL")


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 1)


def _round(page: Any) -> dict[str, float]:
    page.goto("/series")
    page.wait_for_selector("#series[data-ready='1'] canvas")
    first = page.evaluate("window.gridflexSeriesTimings[0]")
    # zoom: three weeks in March, by the chart's own drag handler
    page.evaluate(
        """() => { const u = [...window.gridflexCharts.values()][0];
                   const a = Date.UTC(2016, 2, 1) / 1e3, b = Date.UTC(2016, 2, 22) / 1e3;
                   const l = u.valToPos(a, 'x'), r = u.valToPos(b, 'x');
                   u.setSelect({left: l, width: r - l, top: 0, height: u.bbox.height / devicePixelRatio}); }"""
    )
    page.wait_for_selector("#series[data-ready='2']")
    zoom = page.evaluate("window.gridflexSeriesTimings[1]")
    return {
        "ready_ms": first["at_ms"], "fetch_ms": first["fetch_ms"], "draw_ms": first["draw_ms"],
        "points": first["points"], "samples": first["samples"],
        "zoom_ms": zoom["fetch_ms"] + zoom["draw_ms"], "zoom_samples": zoom["samples"],
    }  # fmt: skip


def _peer_raw(page: Any, raw_json: str) -> dict[str, float]:
    """uPlot given every value (no downsampling): parse the JSON the server would send, then draw
    (to the next animation frame), ms. The transfer of the larger payload comes on top."""
    page.evaluate("text => { window.__rawText = text; }", raw_json)
    return dict(
        page.evaluate(
            """async () => { const el = document.createElement('div'); document.body.append(el);
                       const t0 = performance.now();
                       const data = JSON.parse(window.__rawText);
                       const t1 = performance.now();
                       const u = new uPlot({width: 1200, height: 320,
                         series: [{}, ...data.slice(1).map(() => ({stroke: '#0b5cad'}))]}, data, el);
                       await new Promise(requestAnimationFrame);
                       const t2 = performance.now(); u.destroy(); el.remove();
                       return {parse_ms: t1 - t0, draw_ms: t2 - t1}; }"""
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="1 round (the test suite)")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    rounds = 1 if args.smoke else args.rounds
    out: dict[str, Any] = {"benchmark": "dashboard", "network": NETWORK, "series": 10, "rounds": rounds}
    if not CHROMIUM.exists():
        out["skipped"] = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        print(json.dumps(out))
        return
    from playwright.sync_api import sync_playwright

    from gridflex.api.routers.series import grid_series

    with tempfile.TemporaryDirectory() as tmp:
        server, base, secret = _serve(Path(tmp))
        try:
            cpu0 = _cpu_s(server.pid)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                out["chromium"] = browser.version
                context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto("/signin")
                page.get_by_label("API token").fill(secret)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state("load")
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                runs = [_round(page) for _ in range(rounds)]
                task_s = next(
                    m["value"]
                    for m in cdp.send("Performance.getMetrics")["metrics"]
                    if m["name"] == "TaskDuration"
                )
                g = grid_series(NETWORK)
                raw_json = json.dumps([g.t_s.tolist(), *g.values_kw[:, :10].T.round(3).tolist()])
                raw = [_peer_raw(page, raw_json) for _ in range(max(1, rounds // 3))]
                shown = page.evaluate(
                    "fetch('/v1/series/grids/lv-rural1-storage/values?points=2560').then(r => r.text())"
                )
                browser.close()
            cpu1 = _cpu_s(server.pid)
        finally:
            server.terminate()
            server.wait(30)
    first = {k: _median([r[k] for r in runs]) for k in ("ready_ms", "fetch_ms", "draw_ms")}
    out["samples_per_series"] = int(runs[0]["samples"])
    out["first_render"] = {**first, "points_drawn_per_series": int(runs[0]["points"]), "target_ms": 1000}
    out["zoom"] = {
        "ms": _median([r["zoom_ms"] for r in runs]),
        "samples_per_series": int(runs[0]["zoom_samples"]),
    }
    out["peer_raw"] = {
        "what": "uPlot given all 351,360 values (no server-side downsampling): JSON parse + draw, no transfer",
        "parse_ms": _median([r["parse_ms"] for r in raw]), "draw_ms": _median([r["draw_ms"] for r in raw]),
        "payload_bytes": len(raw_json), "downsampled_payload_bytes": len(shown),
    }  # fmt: skip
    out["cpu_s"] = {"server": round(cpu1 - cpu0, 2), "page_main_thread": round(float(task_s), 2)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

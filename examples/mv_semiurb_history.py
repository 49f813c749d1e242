"""A load and PV history from real 15-min series: the shipped SimBench grid ``mv-semiurb`` (ODbL v1.0).

Writes ``mv_semiurb_april_weekdays.csv`` beside this script, the history ``case39_history.yaml`` fits its
noise from (``load.noise.fit_csv``, ``renewables[].fit_csv``). Rows: the 20 weekdays of 4-29 April 2016,
96 quarter-hours each (UTC, as SimBench labels them). Columns:

- ``time``: the start of the quarter-hour;
- ``load_mw``: the feeder's load, Σ over its 115 loads of nominal ``p_mw`` × the load's profile factor;
- ``actual_pu``: the output of its four MV PV plants (1.735 MW), per unit of their capacity;
- ``forecast_pu``: a persistence forecast of it, the same quarter-hour of the day before.

Contains information from SimBench (https://simbench.de), made available under the ODbL v1.0
(https://opendatacommons.org/licenses/odbl/1-0/); the CSV is offered under the ODbL too.

    .venv/bin/python examples/mv_semiurb_history.py           # (re)write the CSV
    .venv/bin/python examples/mv_semiurb_history.py --check   # exit 1 unless the shipped CSV is what it writes
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gridflex.grid.distribution.gridfile import load_grid

CSV = Path(__file__).with_name("mv_semiurb_april_weekdays.csv")
FIRST, LAST = datetime(2016, 4, 4), datetime(2016, 4, 30)  # Monday 4 April to the end of Friday 29 April
DAY = 96  # quarter-hours


def history() -> pd.DataFrame:
    case = load_grid("mv-semiurb")
    net, prof = case.network, case.profiles
    col = {n: j for j, n in enumerate(prof.names)}
    load = net.tables["load"]
    load_mw = sum(
        (p * prof.values[:, col[f"load_p:{name}"]] for p, name in zip(load.p_mw, load.profile, strict=True)),
        np.zeros(prof.periods),
    )
    sgen = net.tables["sgen"]
    pv = np.flatnonzero(np.asarray(sgen.kind) == "PV_MV")
    cap = float(sgen.p_mw[pv].sum())
    pv_pu = sum(
        (sgen.p_mw[j] * prof.values[:, col[f"sgen:{sgen.profile[j]}"]] for j in pv), np.zeros(prof.periods)
    )
    pv_pu = np.clip(pv_pu / cap, 0.0, 1.0)
    time = pd.date_range(prof.start, periods=prof.periods, freq=f"{prof.step_min}min")
    df = pd.DataFrame(
        {"time": time, "load_mw": load_mw, "actual_pu": pv_pu, "forecast_pu": np.roll(pv_pu, DAY)}
    )
    keep = (df.time >= FIRST) & (df.time < LAST) & (df.time.dt.weekday < 5)
    return df[keep].round({"load_mw": 4, "actual_pu": 5, "forecast_pu": 5})


def text() -> str:
    return history().to_csv(index=False, date_format="%Y-%m-%dT%H:%MZ", lineterminator="\n")


if __name__ == "__main__":
    if "--check" in sys.argv:
        same = CSV.exists() and CSV.read_text() == text()
        print(
            f"{CSV.name}: {'as written from the SimBench grid' if same else 'differs from the SimBench grid'}"
        )
        raise SystemExit(0 if same else 1)
    CSV.write_text(text())
    print(f"wrote {CSV.name}")

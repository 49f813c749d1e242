"""Test configuration.

Hypothesis runs derandomized in CI so that a landing is reproducible; locally it explores new examples
on every run.

Under ``-n auto --dist loadfile`` (the pyproject's addopts) the two workers take whole files from one
queue; the suite's wall time is the busier worker's. Two changes keep them balanced
(docs/decisions/0015-suite-time.md): the documents of ``test_docs.py`` and the scripts of
``test_benchmarks.py`` are units of their own (they share nothing and each takes up to a minute), and
the heaviest units go first, by the seconds each took last time (``.pytest_cache``, else the seed
``tests/unit_seconds.json``; a unit never seen goes first, since it may be heavy).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict, defaultdict
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SEED = Path(__file__).with_name("unit_seconds.json")
CACHE_KEY = "gridflex/unit_seconds"
SPLIT = ("tests/test_docs.py", "tests/test_benchmarks.py")  # items independent of each other


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its file, or the test itself in a file of independent long items."""
    path = nodeid.split("::", 1)[0]
    return nodeid if path in SPLIT else path


def unit_seconds(config: pytest.Config) -> dict[str, float]:
    seconds: dict[str, float] = json.loads(SEED.read_text()) if SEED.exists() else {}
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        seconds.update(cache.get(CACHE_KEY, {}))
    return seconds


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # type: ignore[no-untyped-def]
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    seconds = unit_seconds(config)

    class HeaviestFirst(LoadFileScheduling):
        _ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def _assign_work_unit(self, node) -> None:  # type: ignore[no-untyped-def]
            if not self._ordered:  # the queue is complete at the first assignment
                units = sorted(self.workqueue.items(), key=lambda u: -seconds.get(u[0], float("inf")))
                self.workqueue = OrderedDict(units)
                self._ordered = True
            super()._assign_work_unit(node)

    return HeaviestFirst(config, log)


_measured: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _measured[unit_of(report.nodeid)] += report.duration  # setup, call and teardown


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if hasattr(config, "workerinput") or cache is None or not _measured:
        return  # the controller (or a run without xdist) keeps the figures, not each worker
    cache.set(CACHE_KEY, {**cache.get(CACHE_KEY, {}), **_measured})

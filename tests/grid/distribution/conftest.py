"""Shared fixtures: the shipped grids are loaded once per test module."""

import pytest

from gridflex.grid.distribution import load_grid


@pytest.fixture(scope="module")
def mv():
    return load_grid("mv-semiurb")


@pytest.fixture(scope="module")
def lv():
    return load_grid("lv-rural1-storage")

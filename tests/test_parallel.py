"""map_chunks: serial, local process pool and a local Dask cluster give the same results, in order."""

import pytest

from gridflex.parallel import map_chunks


def square_sum(chunk):  # module level: picklable for spawn and Dask
    return sum(x * x for x in chunk)


CHUNKS = [list(range(i, i + 5)) for i in range(0, 40, 5)]
EXPECTED = [square_sum(c) for c in CHUNKS]


def test_serial_in_order_with_progress():
    seen = []
    assert map_chunks(square_sum, CHUNKS, workers=1, progress=seen.append) == EXPECTED
    assert sorted(seen) == list(range(len(CHUNKS)))


def test_process_pool_same_as_serial():
    seen = []
    assert map_chunks(square_sum, CHUNKS, workers=2, progress=seen.append) == EXPECTED
    assert sorted(seen) == list(range(len(CHUNKS)))


def test_worker_error_propagates():
    with pytest.raises(TypeError):
        map_chunks(square_sum, [[1], ["a"]], workers=1)


def test_local_dask_cluster_same_as_serial():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        seen = []
        assert (
            map_chunks(square_sum, CHUNKS, scheduler=cluster.scheduler_address, progress=seen.append)
            == EXPECTED
        )
        assert sorted(seen) == list(range(len(CHUNKS)))

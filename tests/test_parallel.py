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


@pytest.mark.parametrize("workers", [0, -1])
def test_fewer_than_one_worker_is_refused(workers):
    from gridflex.errors import ValidationError
    from gridflex.parallel import runner

    with pytest.raises(ValidationError, match="workers: must be a whole number >= 1"):
        runner(workers=workers)
    with pytest.raises(ValidationError, match="workers"):
        map_chunks(square_sum, CHUNKS, workers=workers)


def test_serial_case_is_the_cores_runner(monkeypatch):
    # one serial loop in the code base (grid.evaluation.run_serial), used by map_chunks too
    import gridflex.grid.evaluation as ev

    calls = []

    def spy(fn, chunks, on_chunk=None):
        calls.append(len(chunks))
        return [fn(c) for c in chunks]

    monkeypatch.setattr(ev, "run_serial", spy)
    assert map_chunks(square_sum, CHUNKS, workers=1) == EXPECTED
    assert calls == [len(CHUNKS)]


@pytest.mark.parametrize(
    "address", ["garbage", "tcp://host", "tcp://:8786", "http://host:8786", "tcp://host:99999"]
)
def test_a_scheduler_address_that_is_not_one_is_refused_at_once(address):
    pytest.importorskip("distributed")
    from gridflex.errors import ValidationError
    from gridflex.parallel import check_scheduler

    with pytest.raises(ValidationError, match=r"scheduler: .*expected tcp://HOST:PORT"):
        check_scheduler(address, timeout_s=60.0)  # refused by its form: no connection is tried


def test_an_unreachable_scheduler_is_one_clear_error():
    pytest.importorskip("distributed")
    import socket

    from gridflex.errors import ValidationError
    from gridflex.parallel import check_scheduler

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ValidationError, match=f"no Dask scheduler answered at tcp://127.0.0.1:{port}"):
        check_scheduler(f"tcp://127.0.0.1:{port}", timeout_s=0.5)

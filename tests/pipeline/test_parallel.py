"""Tests of pipeline/parallel.py: the same results in the same order as `map`, on one process or several, on either
engine."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from pipeline.parallel import Workers, worker_count
from schema.params import EngineParams
from tests.helpers import REPO


def squares_and_pid(batch: pa.RecordBatch) -> tuple[list[int], int]:
    return [value * value for value in batch.column(0).to_pylist()], os.getpid()


def batches(count: int) -> list[pa.RecordBatch]:
    return [pa.record_batch([pa.array(range(index * 3, index * 3 + 3))], names=["n"]) for index in range(count)]


@pytest.mark.parametrize("items", [0, 1, 2, 9])
@pytest.mark.parametrize("workers", [1, 2])
def test_results_keep_the_input_order(items, workers):
    with Workers(EngineParams(workers=workers)) as pool:
        results = list(pool.map(squares_and_pid, iter(batches(items))))
    assert [squares for squares, _ in results] == [[n * n for n in range(i * 3, i * 3 + 3)] for i in range(items)]
    processes = {pid for _, pid in results}
    if workers == 1 or items < 2:
        assert processes <= {os.getpid()}
    else:
        assert os.getpid() not in processes


@pytest.mark.parametrize("items", [1, 9])
def test_the_dask_engine_keeps_the_input_order_and_runs_every_item_on_the_cluster(dask_scheduler, items):
    engine = EngineParams(kind="dask", address=dask_scheduler)
    with Workers(engine) as pool:
        results = list(pool.map(squares_and_pid, batches(items)))
        again = list(pool.map(squares_and_pid, batches(2)))
    assert [squares for squares, _ in results] == [[n * n for n in range(i * 3, i * 3 + 3)] for i in range(items)]
    assert os.getpid() not in {pid for _, pid in results + again}


def test_worker_count_defaults_to_the_available_cores():
    assert worker_count(3) == 3
    assert worker_count(0) == len(os.sched_getaffinity(0))


def frozen_objects(batch: pa.RecordBatch) -> int:
    return gc.get_freeze_count()


def test_local_workers_leave_the_objects_they_inherit_out_of_their_collections():
    assert gc.get_freeze_count() == 0, "the stage's own process keeps its objects collectable"
    with Workers(EngineParams(workers=2)) as pool:
        frozen = list(pool.map(frozen_objects, batches(4)))
    assert gc.get_freeze_count() == 0
    assert min(frozen) > 1_000


def pandas_after_conversion(batch: pa.RecordBatch) -> bool:
    pa.array([value for value in batch.column(0).to_pylist()])
    return "pandas" in sys.modules


@pytest.mark.parametrize("engine", ["kind='local', workers=2", "kind='dask', address='local', workers=2"])
def test_workers_of_a_process_that_keeps_pandas_out_never_import_it(engine):
    script = (
        "from pipeline.process import without\n"
        "without('pandas')\n"
        "import pyarrow as pa\n"
        "from pipeline.parallel import Workers\n"
        "from schema.params import EngineParams\n"
        "from tests.pipeline.test_parallel import pandas_after_conversion\n"
        "batches = [pa.record_batch([pa.array([index])], names=['n']) for index in range(4)]\n"
        f"with Workers(EngineParams({engine})) as pool:\n"
        "    print(list(pool.map(pandas_after_conversion, batches)))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == str([False] * 4)

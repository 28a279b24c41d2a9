"""Tests of pipeline/parallel.py: the same results in the same order as `map`, on one process or several."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

from pipeline.parallel import MessageSpill, ordered_map, read_messages, worker_count
from tests.helpers import REPO


def squares_and_pid(batch: pa.RecordBatch) -> tuple[list[int], int]:
    return [value * value for value in batch.column(0).to_pylist()], os.getpid()


@pytest.mark.parametrize("items", [0, 1, 2, 9])
@pytest.mark.parametrize("workers", [1, 2])
def test_results_keep_the_input_order(items, workers):
    batches = [pa.record_batch([pa.array(range(index * 3, index * 3 + 3))], names=["n"]) for index in range(items)]
    results = list(ordered_map(squares_and_pid, iter(batches), workers))
    assert [squares for squares, _ in results] == [[n * n for n in range(i * 3, i * 3 + 3)] for i in range(items)]
    processes = {pid for _, pid in results}
    if workers == 1 or items < 2:
        assert processes <= {os.getpid()}
    else:
        assert os.getpid() not in processes


def test_worker_count_defaults_to_the_available_cores():
    assert worker_count(3) == 3
    assert worker_count(0) == len(os.sched_getaffinity(0))


def pandas_after_conversion(batch: pa.RecordBatch) -> bool:
    pa.array([value for value in batch.column(0).to_pylist()])
    return "pandas" in sys.modules


def test_workers_of_a_process_that_keeps_pandas_out_never_import_it():
    script = (
        "from pipeline.process import without_pandas\n"
        "without_pandas()\n"
        "import pyarrow as pa\n"
        "from pipeline.parallel import ordered_map\n"
        "from tests.pipeline.test_parallel import pandas_after_conversion\n"
        "batches = [pa.record_batch([pa.array([index])], names=['n']) for index in range(4)]\n"
        "print(list(ordered_map(pandas_after_conversion, batches, 2)))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == str([False] * 4)


def test_a_message_spill_reads_back_the_batches_asked_for_in_the_order_asked(tmp_path):
    batches = [pa.record_batch([pa.array(range(index, index + 3))], names=["n"]) for index in range(4)]
    with MessageSpill(tmp_path, "test") as spill:
        first = [spill.append(batch) for batch in batches[:2]]
    with MessageSpill(tmp_path, "test") as appended:
        later = [appended.append(batch) for batch in batches[2:]]
    assert appended.path == spill.path == tmp_path / f"{os.getpid()}.test"
    read = read_messages(spill.path, [later[1], first[0], later[0]], batches[0].schema)
    assert [batch.equals(batches[index]) for batch, index in zip(read, [3, 0, 2], strict=True)] == [True] * 3
    assert read_messages(tmp_path / "absent", [], batches[0].schema) == []

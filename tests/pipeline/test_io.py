"""Tests of pipeline/io.py: stage tables written whole or not at all, in fixed row groups, and read back in order."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io import ParquetSink, WriteBehind, read_batches, read_sample, staged_directory, table_files

SCHEMA = pa.schema([pa.field("n", pa.int64(), nullable=False)])


def numbers(start: int, stop: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(range(start, stop), pa.int64())], schema=SCHEMA)


def test_row_groups_have_the_set_size_whatever_the_batches(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    with ParquetSink(path, SCHEMA, row_group_rows=4) as sink:
        for start, stop in ((0, 3), (3, 4), (4, 11), (11, 11), (11, 13)):
            sink.write(numbers(start, stop))
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)] == [4, 4, 4, 1]
    assert pq.read_table(path)["n"].to_pylist() == list(range(13))
    assert sink.rows == 13


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    with pytest.raises(RuntimeError), ParquetSink(path, SCHEMA, row_group_rows=4) as sink:
        sink.write(numbers(0, 6))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_write_behind_writes_in_order_off_the_calling_thread_with_at_most_one_waiting() -> None:
    done: list[tuple[int, str]] = []

    def write(value: int) -> None:
        time.sleep(0.01)
        done.append((value, threading.current_thread().name))

    with WriteBehind() as writes:
        for value in range(6):
            writes(write, value)
            # The call returns once only the write just asked for may still be waiting: every earlier one is done.
            assert len(done) >= value
    assert [value for value, _ in done] == list(range(6))
    assert threading.current_thread().name not in {thread for _, thread in done}


def test_write_behind_raises_a_failed_write_and_waits_for_the_rest_after_an_error() -> None:
    def fail() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), WriteBehind() as writes:
        writes(fail)
        writes(time.sleep, 0)
        writes(time.sleep, 0)
    finished: list[int] = []
    with pytest.raises(RuntimeError), WriteBehind() as writes:
        writes(lambda: (time.sleep(0.05), finished.append(1)))
        raise RuntimeError("interrupted")
    assert finished == [1]


def test_a_directory_table_is_read_part_by_part_in_name_order(tmp_path: Path) -> None:
    table = tmp_path / "split"
    table.mkdir()
    for name, (start, stop) in (("part-00001.parquet", (5, 9)), ("part-00000.parquet", (0, 5))):
        pq.write_table(pa.Table.from_batches([numbers(start, stop)]), table / name)
    (table / "notes.txt").write_text("not a part", encoding="utf-8")
    assert [path.name for path in table_files(table)] == ["part-00000.parquet", "part-00001.parquet"]
    assert [value for batch in read_batches(table, 3) for value in batch["n"].to_pylist()] == list(range(9))


def written(path: Path, stop: int, row_group_rows: int) -> Path:
    with ParquetSink(path, SCHEMA, row_group_rows=row_group_rows) as sink:
        sink.write(numbers(0, stop))
    return path


def test_a_sample_of_a_small_table_is_all_of_it(tmp_path: Path) -> None:
    path = written(tmp_path / "t.parquet", 10, row_group_rows=4)
    assert read_sample(path, 10).column("n").to_pylist() == list(range(10))


def test_a_sample_takes_as_many_first_rows_of_each_row_group(tmp_path: Path) -> None:
    path = written(tmp_path / "t.parquet", 100, row_group_rows=10)
    sample = read_sample(path, 25)
    assert sample.column("n").to_pylist() == [n for start in range(0, 100, 10) for n in (start, start + 1)]
    assert read_sample(path, 25).equals(sample)


def test_a_sample_smaller_than_the_row_groups_takes_one_row_of_groups_spread_evenly(tmp_path: Path) -> None:
    path = written(tmp_path / "t.parquet", 100, row_group_rows=10)
    assert read_sample(path, 4).column("n").to_pylist() == [0, 20, 50, 70]


def test_a_sample_of_a_directory_table_spans_its_parts(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    for part, start in (("b", 50), ("a", 0)):
        with ParquetSink(folder / f"{part}.parquet", SCHEMA, row_group_rows=25) as sink:
            sink.write(numbers(start, start + 50))
    assert read_sample(folder, 8).column("n").to_pylist() == [0, 1, 25, 26, 50, 51, 75, 76]


def test_a_staged_directory_takes_the_place_of_the_old_one_and_leaves_nothing_aside(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old").write_text("old", encoding="utf-8")
    with staged_directory(target) as staging:
        assert staging.parent == tmp_path and staging != target
        (staging / "new").write_text("new", encoding="utf-8")
    assert [path.name for path in target.iterdir()] == ["new"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o755)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_failed_staged_directory_leaves_the_old_one_and_removes_itself(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), staged_directory(target) as staging:
        (staging / "half").write_text("half", encoding="utf-8")
        raise RuntimeError("the stage failed")
    assert [path.name for path in target.iterdir()] == ["old"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_the_old_directory_goes_back_when_the_new_one_cannot_take_its_place(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old").write_text("old", encoding="utf-8")
    replace = os.replace

    def refuse_staging(source: Path, destination: Path) -> None:
        if Path(source).name != ".out-previous" and Path(destination) == target:
            raise OSError("no space left on device")
        replace(source, destination)

    monkeypatch.setattr(os, "replace", refuse_staging)
    with pytest.raises(OSError, match="no space"), staged_directory(target) as staging:
        (staging / "new").write_text("new", encoding="utf-8")
    assert [path.name for path in target.iterdir()] == ["old"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_without_pandas_pyarrow_converts_values_and_never_imports_it() -> None:
    program = (
        "import sys, pyarrow as pa\n"
        "from pipeline.process import without\n"
        "without('pandas')\n"
        "assert pa.array([1, None, 3]).null_count == 1\n"
        "print('pandas' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "False"

"""Tests of pipeline/engine/buckets.py: bucket sizing, every row in one bucket in id order, spilling by bucket and
reading back, and resolving one bucket into one part of the output."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.engine import buckets as buckets_module
from pipeline.engine.buckets import (
    KEYED,
    Bucket,
    Buckets,
    ReleaseRule,
    bucket_bits,
    bucket_of,
    bucket_tasks,
    resolve_bucket,
    resolve_part,
    spill_by_bucket,
)
from pipeline.scratch import Scratch
from schema.manifest import SCHEMA as MANIFEST_SCHEMA
from schema.pair import SCHEMA as PAIR_SCHEMA
from schema.params import SPLITS

ids_64 = st.lists(st.integers(0, 2**64 - 1), max_size=60).map(lambda ids: np.array(ids, dtype=np.uint64))


def test_a_keyed_row_is_a_released_row_without_its_split_then_its_input_position() -> None:
    digests = ("english_key_sha256", "french_key_sha256", "content_sha256")
    released = [MANIFEST_SCHEMA.field("id"), *PAIR_SCHEMA, *(MANIFEST_SCHEMA.field(name) for name in digests)]
    assert KEYED == pa.schema([*released, pa.field("row", pa.int64(), nullable=False)])


@settings(max_examples=100, deadline=None)
@given(ids_64, st.integers(0, 10))
def test_every_row_is_in_one_bucket_and_buckets_follow_id_order(ids: np.ndarray, bits: int) -> None:
    buckets = Buckets.of(ids, bits)
    assert buckets.count == 1 << bits
    rows = [buckets.rows(index) for index in range(buckets.count)]
    assert sorted(np.concatenate(rows).tolist()) == list(range(len(ids)))
    assert all(np.all(np.diff(bucket) > 0) for bucket in rows)
    in_bucket_order = np.concatenate([np.sort(ids[bucket]) for bucket in rows])
    assert in_bucket_order.tolist() == sorted(ids.tolist())
    assert bucket_of(ids, bits).tolist() == [int(value) >> (64 - bits) if bits else 0 for value in ids.tolist()]


@pytest.mark.parametrize(("bits", "dtype"), [(0, np.uint16), (16, np.uint16), (17, np.uint32), (24, np.uint32)])
def test_the_bucket_of_each_row_is_held_in_the_smallest_type_that_fits(bits: int, dtype: type) -> None:
    ids = np.array([0, 2**63, 2**64 - 1], dtype=np.uint64)
    buckets = Buckets.of(ids, bits)
    assert buckets.of_row.dtype == dtype
    assert buckets.of_row.tolist() == [0, (1 << bits) >> 1, (1 << bits) - 1]


def _validated(path: Path, rows: int) -> Path:
    pq.write_table(
        pa.table({"line": list(range(2, rows + 2)), "english": [f"sentence {index}" * 20 for index in range(rows)]}),
        path,
    )
    return path


def test_bucket_bits_give_buckets_of_about_the_bucket_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _validated(tmp_path / "validated.parquet", 2_000)
    assert bucket_bits(source) == 0
    metadata = pq.ParquetFile(source).metadata
    size = sum(metadata.row_group(index).total_byte_size for index in range(metadata.num_row_groups))
    for bucket_bytes in (size, size // 3, size // 100):
        monkeypatch.setattr(buckets_module, "BUCKET_BYTES", bucket_bytes)
        bits = bucket_bits(source)
        assert bits == math.ceil(math.log2(size * buckets_module.KEYED_GROWTH / bucket_bytes))
        assert size * buckets_module.KEYED_GROWTH / (1 << bits) <= bucket_bytes


def keyed_rows(
    ids: list[str], first_row: int = 0, lines: list[int] | None = None, english: list[str] | None = None
) -> pa.RecordBatch:
    """Keyed rows with the given ids; the digests are placeholders."""
    count = len(ids)
    digest = pa.array([bytes(32)] * count, pa.binary(32))
    return pa.record_batch(
        [
            pa.array(ids, pa.string()),
            pa.array(["raw.csv"] * count, pa.string()),
            pa.array(lines or list(range(first_row + 2, first_row + count + 2)), pa.int64()),
            pa.array(english or [f"english {index}" for index in range(count)], pa.string()),
            pa.array([f"french {index}" for index in range(count)], pa.string()),
            pa.array([[] for _ in range(count)], pa.list_(pa.string())),
            digest,
            digest,
            digest,
            pa.array(range(first_row, first_row + count), pa.int64()),
        ],
        schema=KEYED,
    )


def test_spilled_buckets_read_back_in_input_order(tmp_path: Path) -> None:
    bits = 2
    rng = np.random.default_rng(5)
    messages: list[list[tuple[int, int]]] = [[] for _ in range(1 << bits)]
    hashes = []
    scratch = Scratch(str(tmp_path))
    with scratch.messages("keyed") as spill:
        for first_row in (0, 50):
            batch_hashes = rng.integers(0, 2**64, 50, dtype=np.uint64)
            hashes.append(batch_hashes)
            spill_by_bucket(
                keyed_rows([f"id {row}" for row in range(first_row, first_row + 50)], first_row),
                batch_hashes,
                bits,
                spill,
                messages,
            )
    of_row = bucket_of(np.concatenate(hashes), bits)
    buckets = Buckets.of(np.concatenate(hashes), bits)
    codes, pinned = (np.arange(100) % 3).astype(np.int8), np.arange(100) % 2 == 0
    tasks = list(bucket_tasks(buckets, [("keyed", messages)], scratch, tmp_path, codes, pinned))
    assert [task.index for task in tasks] == list(range(1 << bits))
    for task in tasks:
        read = task.read()
        assert read.schema == KEYED
        assert read["row"].to_pylist() == task.rows.tolist() == np.flatnonzero(of_row == task.index).tolist()
        assert task.codes.tolist() == codes[task.rows].tolist() and task.pinned.tolist() == pinned[task.rows].tolist()


# A rule for the tests: rows of one id are ordered by line, the first is released unless its code is 2; each other
# row is reported with its code and the line of the first row of its id.
OUTPUT = pa.schema([KEYED.field("id"), pa.field("split", pa.string()), KEYED.field("line"), KEYED.field("row")])
RULE = ReleaseRule(
    OUTPUT,
    kept_first_by=("line",),
    released=lambda first_of_id, codes: first_of_id & (codes != 2),
    report=lambda row, code, first: {"line": row["line"], "code": code, "first": first["line"]},
)


def test_a_bucket_releases_the_first_row_of_each_id_in_id_order_and_reports_the_others() -> None:
    ids = ["c", "a", "b", "a", "c", "a"]
    lines = [10, 31, 20, 30, 11, 32]
    keyed = pa.Table.from_batches([keyed_rows(ids, first_row=100, lines=lines)])
    rows = np.arange(100, 106)
    codes = np.array([1, 0, 2, 0, 1, 0], np.int8)
    table, released_rows, reports = resolve_bucket(keyed, rows, codes, RULE)
    assert table.schema == OUTPUT
    assert table.to_pylist() == [
        {"id": "a", "split": SPLITS[0], "line": 30, "row": 103},
        {"id": "c", "split": SPLITS[1], "line": 10, "row": 100},
    ]
    assert released_rows.tolist() == [103, 100]
    assert reports == [
        {"line": 31, "code": 0, "first": 30},
        {"line": 32, "code": 0, "first": 30},
        {"line": 20, "code": 2, "first": 20},
        {"line": 11, "code": 1, "first": 10},
    ]


def test_a_resolved_bucket_is_written_as_its_part_and_counted(tmp_path: Path) -> None:
    scratch = Scratch(str(tmp_path))
    with scratch.messages("keyed") as spill:
        where = spill.append(keyed_rows(["b", "a", "a"], first_row=7, lines=[5, 4, 3]))
    bucket = Bucket(
        3,
        tmp_path,
        scratch,
        [("keyed", [where])],
        np.array([7, 8, 9]),
        np.array([2, 0, 0], np.int8),
        np.array([True, False, True]),
    )
    resolved = resolve_part(bucket, RULE)
    part = pq.read_table(tmp_path / "part-00003.parquet")
    assert part.schema.remove_metadata() == OUTPUT
    assert part["row"].to_pylist() == [9]
    assert resolved.rows == 3
    assert resolved.released.tolist() == [1, 0, 0]
    assert resolved.pinned == 1
    assert [report["line"] for report in resolved.reports] == [4, 5]

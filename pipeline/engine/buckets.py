"""Id-range buckets: sizes them, spills keyed rows to them, and resolves each into one part of the split's output.

A bucket holds the rows whose 64-bit id hashes have its index as their top bits, so the buckets in index order hold
the ids in ascending order, and there are enough of them for one process to read and sort a bucket in memory. The
first pass (`key_pass`) spills each batch's rows by bucket; the second reads a bucket back whole, sorts it by id,
writes the rows released as one part of the output and returns the reports of the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.io import ParquetSink
from pipeline.scratch import MessageWriter, Scratch
from schema.manifest import SCHEMA as MANIFEST_SCHEMA
from schema.pair import SCHEMA as PAIR_SCHEMA
from schema.params import SPLITS

# What a bucket holds, a keyed row: the columns of a released row but its split, then the row's position in the
# input, by which the global step's arrays are indexed.
KEYED = pa.schema(
    [
        MANIFEST_SCHEMA.field("id"),
        *PAIR_SCHEMA,
        *(MANIFEST_SCHEMA.field(name) for name in ("english_key_sha256", "french_key_sha256", "content_sha256")),
        pa.field("row", pa.int64(), nullable=False),
    ]
)

# Keyed rows a bucket is sized to hold, in bytes. A bucket is sorted in memory with one copy, so this bounds what the
# second pass holds per process.
BUCKET_BYTES = 64 << 20
# Keyed rows are larger than the validated rows they come from: the id, the digests and the input position are added
# to the text of each row.
KEYED_GROWTH = 1.3

# Where a bucket's rows are in one scratch part: the (offset, size) of each of its messages there.
Messages = list[tuple[int, int]]


def bucket_bits(source: Path) -> int:
    """How many top bits of the id hash name a bucket: enough for each bucket to hold about `BUCKET_BYTES` of the
    keyed rows of `source`."""
    metadata = pq.ParquetFile(source).metadata
    size = sum(metadata.row_group(index).total_byte_size for index in range(metadata.num_row_groups))
    return max(0, math.ceil(math.log2(max(1.0, size * KEYED_GROWTH / BUCKET_BYTES))))


def bucket_of(ids: np.ndarray, bits: int) -> np.ndarray:
    """The bucket of each 64-bit id hash: its top `bits` bits."""
    if bits == 0:
        return np.zeros(len(ids), dtype=np.int64)
    return (ids >> np.uint64(64 - bits)).astype(np.int64)


def spill_by_bucket(
    keyed: pa.RecordBatch, ids: np.ndarray, bits: int, spill: MessageWriter, messages: list[Messages]
) -> None:
    """Appends `keyed` (whose 64-bit id hashes are `ids`) to `spill`, one message per bucket its rows fall in, and
    adds where each message went to `messages[bucket]`."""
    of_row = bucket_of(ids, bits)
    # One gather puts each bucket's rows together; its slices are then serialised without copies.
    order = np.argsort(of_row, kind="stable")
    grouped = keyed.take(pa.array(order))
    bounds = np.searchsorted(of_row[order], np.arange((1 << bits) + 1))
    for index in np.flatnonzero(np.diff(bounds)).tolist():
        messages[index].append(spill.append(grouped.slice(bounds[index], bounds[index + 1] - bounds[index])))


@dataclass(frozen=True)
class Buckets:
    """The bucket of each input row, in the smallest integer type that holds it."""

    of_row: np.ndarray
    count: int

    @classmethod
    def of(cls, ids: np.ndarray, bits: int) -> Buckets:
        return cls(bucket_of(ids, bits).astype(np.uint16 if bits <= 16 else np.uint32), 1 << bits)

    def rows(self, index: int) -> np.ndarray:
        """The input positions of the rows of bucket `index`, ascending."""
        return np.flatnonzero(self.of_row == index)


@dataclass(frozen=True)
class Bucket:
    """What the second pass needs to resolve one bucket on any worker: where its keyed rows are (the messages of each
    scratch part that has some), where its part of the output goes, and the split code and pinning of each of its
    input rows (`rows`, ascending)."""

    index: int
    output: Path
    scratch: Scratch
    pieces: list[tuple[str, Messages]]
    rows: np.ndarray
    codes: np.ndarray
    pinned: np.ndarray

    def read(self) -> pa.Table:
        """The keyed rows of the bucket, in input order."""
        return pa.Table.from_batches(
            [batch for name, messages in self.pieces for batch in self.scratch.read_messages(name, messages, KEYED)],
            KEYED,
        )


def bucket_tasks(
    buckets: Buckets,
    spilled: list[tuple[str, list[Messages]]],
    scratch: Scratch,
    output: Path,
    codes: np.ndarray,
    pinned: np.ndarray,
) -> Iterator[Bucket]:
    """One `Bucket` per bucket, in index order, made as they are asked for: `spilled` has, per part in `scratch`, the
    messages of each bucket; `codes` and `pinned` are the split code and pinning of each input row."""
    output = output.resolve()
    for index in range(buckets.count):
        rows = buckets.rows(index)
        pieces = [(name, messages[index]) for name, messages in spilled if messages[index]]
        yield Bucket(index, output, scratch, pieces, rows, codes[rows], pinned[rows])


@dataclass(frozen=True)
class ReleaseRule:
    """What the second pass is told to decide in each bucket (`pipeline.split` says why):

    - `schema`: the released rows, the keyed columns in its order with the split's name in `split`;
    - `kept_first_by`: the columns that order the rows of one id after the id itself;
    - `released(first_of_id, codes)`: which rows, in that order, are released, from whether each is the first of its
      id and its split code;
    - `report(row, code, first)`: the rejects-report record of a row not released, from the row, its split code and
      the first row of its id (each a dict of keyed columns).
    """

    schema: pa.Schema
    kept_first_by: tuple[str, ...]
    released: Callable[[np.ndarray, np.ndarray], np.ndarray]
    report: Callable[[dict[str, Any], int, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Resolved:
    """One resolved bucket: how many rows it had, the released count per split, how many of those were pinned, and
    its reports."""

    rows: int
    released: np.ndarray
    pinned: int
    reports: list[dict[str, Any]]


def resolve_part(bucket: Bucket, rule: ReleaseRule) -> Resolved:
    """Resolves one bucket and writes its released rows, sorted by id, as its part of the output."""
    keyed = bucket.read()
    released, released_rows, reports = resolve_bucket(keyed, bucket.rows, bucket.codes, rule)
    at = np.searchsorted(bucket.rows, released_rows)
    with ParquetSink(bucket.output / f"part-{bucket.index:05d}.parquet", rule.schema) as part:
        part.write(released)
    return Resolved(
        keyed.num_rows, np.bincount(bucket.codes[at], minlength=len(SPLITS)), int(bucket.pinned[at].sum()), reports
    )


def resolve_bucket(
    keyed: pa.Table, rows: np.ndarray, codes_of_rows: np.ndarray, rule: ReleaseRule
) -> tuple[pa.Table, np.ndarray, list[dict[str, Any]]]:
    """Orders a bucket's keyed rows by id, then by `rule.kept_first_by`, and releases the rows `rule.released` picks.

    `codes_of_rows[i]` is the split code of input row `rows[i]`. Returns the released rows sorted by id, their
    input positions, and the reports of the others.
    """
    order = pc.sort_indices(keyed, sort_keys=[(name, "ascending") for name in ("id", *rule.kept_first_by)]).to_numpy()
    # Only the id and row columns are put in order to decide; the text is gathered once, for the rows released.
    decided = keyed.select(["id", "row"]).take(order)
    codes = codes_of_rows[np.searchsorted(rows, decided["row"].to_numpy())]
    ids = decided["id"].combine_chunks()
    is_first = np.ones(len(ids), dtype=bool)
    is_first[1:] = pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)
    is_released = rule.released(is_first, codes)
    released = keyed.take(order[is_released])
    split_names = pc.take(pa.array(SPLITS, pa.string()), pa.array(codes[is_released].astype(np.int64)))
    table = pa.table({name: split_names if name == "split" else released[name] for name in rule.schema.names}).cast(
        rule.schema
    )
    first_at = np.maximum.accumulate(np.where(is_first, np.arange(len(ids)), 0))[~is_released]
    withheld = keyed.take(order[~is_released]).to_pylist()
    firsts = keyed.take(order[first_at]).select(["source", "line", "english", "french"]).to_pylist()
    reports = [
        rule.report(row, code, first)
        for row, code, first in zip(withheld, codes[~is_released].tolist(), firsts, strict=True)
    ]
    return table, released["row"].to_numpy(), reports

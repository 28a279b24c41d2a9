"""The rows of one split, a page at a time, from its parquet shards: a page by offset, the rows matching a text or a
flag, where a row is by id, and which flags the split holds.

A page by offset reads only the row groups it covers; a search or a filter reads the split a batch at a time and
keeps the page's rows only, so no request holds a whole split, whatever its size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from localhub.pages.shards import ContentCache, Split, content_id, open_parquet
from localhub.storage import Repo

PAGE_ROWS = 100
SCAN_BATCH_ROWS = 8192
ID_COLUMN = "id"
FLAGS_COLUMN = "flags"

_FLAG_COUNTS = ContentCache(4096)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    list: bool = False
    number: bool = False


@dataclass(frozen=True)
class Rows:
    """Rows `offset`… of the `total` rows that match (every row of the split when nothing is asked)."""

    records: list[dict[str, Any]]
    offset: int
    total: int


class SplitRows:
    """The rows of one split, its nested columns flattened to their leaves (`translation.en`)."""

    def __init__(self, repo: Repo, split: Split):
        self._entries = split.files
        self._files = [open_parquet(repo, entry) for entry in split.files]

    @property
    def total(self) -> int:
        return sum(file.metadata.num_rows for file in self._files)

    def columns(self) -> list[Column]:
        if not self._files:
            return []
        return [
            Column(
                name,
                _type_name(data_type),
                list=pa.types.is_list(data_type) or pa.types.is_large_list(data_type),
                number=pa.types.is_integer(data_type) or pa.types.is_floating(data_type),
            )
            for name, data_type in _leaves(self._files[0].schema_arrow)
        ]

    def page(self, offset: int, limit: int = PAGE_ROWS) -> Rows:
        records: list[dict[str, Any]] = []
        start = 0
        for file in self._files:
            rows = file.metadata.num_rows
            wanted = offset + len(records)
            if len(records) < limit and start <= wanted < start + rows:
                records += _read_range(file, wanted - start, limit - len(records)).to_pylist()
            start += rows
        return Rows(records, offset, self.total)

    def search(self, offset: int, limit: int = PAGE_ROWS, *, text: str = "", flag: str = "") -> Rows:
        """Rows holding `text` in a string column (case ignored) and carrying `flag`, when given."""
        records: list[dict[str, Any]] = []
        matched = 0
        for file in self._files:
            for batch in file.iter_batches(batch_size=SCAN_BATCH_ROWS):
                table = _flat(pa.Table.from_batches([batch]))
                found = table.filter(_matches(table, text, flag))
                first, last = max(offset - matched, 0), min(offset + limit - matched, found.num_rows)
                if first < last:
                    records += found.slice(first, last - first).to_pylist()
                matched += found.num_rows
        return Rows(records, offset, matched)

    def offset_of(self, row_id: str) -> int | None:
        """The position of the row with this id; row groups whose id statistics exclude it are not read."""
        start = 0
        for file in self._files:
            if ID_COLUMN in file.schema_arrow.names:
                found = _find_id(file, row_id)
                if found is not None:
                    return start + found
            start += file.metadata.num_rows
        return None

    def flag_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for entry, file in zip(self._entries, self._files, strict=True):
            counts.update(_FLAG_COUNTS.get(content_id(entry), lambda file=file: _count_flags(file)))
        return dict(counts.most_common())


def _read_range(file: pq.ParquetFile, offset: int, limit: int) -> pa.Table:
    """Rows `offset`… of one file (at most `limit`), reading the row groups they are in and no other."""
    groups, start, first = [], 0, None
    for index in range(file.num_row_groups):
        rows = file.metadata.row_group(index).num_rows
        if start + rows > offset and start < offset + limit:
            first = start if first is None else first
            groups.append(index)
        start += rows
    return _flat(file.read_row_groups(groups).slice(offset - first, limit))


def _matches(table: pa.Table, text: str, flag: str) -> pa.Array:
    mask = np.ones(table.num_rows, dtype=bool)
    if text:
        hits = np.zeros(table.num_rows, dtype=bool)
        for column in table.columns:
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                found = pc.fill_null(pc.match_substring(column, text, ignore_case=True), False)
                hits |= found.to_numpy(zero_copy_only=False)
        mask &= hits
    if flag:
        mask &= _flagged(table, flag)
    return pa.array(mask)


def _flagged(table: pa.Table, flag: str) -> np.ndarray:
    flagged = np.zeros(table.num_rows, dtype=bool)
    if FLAGS_COLUMN not in table.column_names:
        return flagged
    flags = table[FLAGS_COLUMN].combine_chunks()
    rows = pc.filter(pc.list_parent_indices(flags), pc.equal(pc.list_flatten(flags), flag))
    flagged[rows.to_numpy(zero_copy_only=False)] = True
    return flagged


def _find_id(file: pq.ParquetFile, row_id: str) -> int | None:
    metadata = file.metadata
    leaf = next(
        (i for i in range(metadata.num_columns) if metadata.row_group(0).column(i).path_in_schema == ID_COLUMN), None
    )
    start = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        stats = group.column(leaf).statistics if leaf is not None else None
        if stats is None or not stats.has_min_max or stats.min <= row_id <= stats.max:
            position = pc.index(file.read_row_group(index, columns=[ID_COLUMN])[ID_COLUMN], row_id).as_py()
            if position >= 0:
                return start + position
        start += group.num_rows
    return None


def _count_flags(file: pq.ParquetFile) -> Counter[str]:
    counts: Counter[str] = Counter()
    field = file.schema_arrow.field(FLAGS_COLUMN) if FLAGS_COLUMN in file.schema_arrow.names else None
    if field is None or not pa.types.is_list(field.type):
        return counts
    for batch in file.iter_batches(batch_size=SCAN_BATCH_ROWS * 8, columns=[FLAGS_COLUMN]):
        for item in pc.value_counts(pc.list_flatten(batch[FLAGS_COLUMN])).to_pylist():
            counts[item["values"]] += item["counts"]
    return counts


def _leaves(fields, prefix: str = "") -> Iterator[tuple[str, pa.DataType]]:
    """Each column's name and type as `_flat` lays them out, read from the schema alone."""
    for field in fields:
        if pa.types.is_struct(field.type):
            yield from _leaves(field.type, f"{prefix}{field.name}.")
        else:
            yield prefix + field.name, field.type


def _flat(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table


def _type_name(data_type: pa.DataType) -> str:
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return f"list<{_type_name(data_type.value_type)}>"
    return str(data_type)

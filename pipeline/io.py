"""Reads and writes the stage files (parquet tables, JSONL rejects, JSON metrics); each appears whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

# Pinned so that two runs on the same input give byte-identical files. Files passed between stages are not
# compressed: zstd would cost more time than the disk it saves; the Hub shards are compressed by the build stage.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "none",
    "use_dictionary": False,
    "write_statistics": True,
    "store_schema": True,
    "version": "2.6",
}


class StageError(Exception):
    """An input or state the stage cannot work with; the message says what was expected and what to do."""


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary sibling of `path` that replaces `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# Rows per row group of the files passed between stages: a row group is the unit a worker process takes, and a
# reader's batches never span two, so groups much smaller than a batch multiply the per-batch costs.
ROW_GROUP_ROWS = 65_536


class ParquetSink:
    """Writes record batches to one parquet file, atomically, in row groups of `row_group_rows` (the last one may
    be smaller), whatever the sizes of the batches it is given."""

    def __init__(self, path: Path, schema: pa.Schema, row_group_rows: int = ROW_GROUP_ROWS, **options: Any) -> None:
        self.path = path
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.options = {**PARQUET_OPTIONS, **options}
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def __enter__(self) -> ParquetSink:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(tmp, self.schema, **self.options)
        return self

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if not batch.num_rows:
            return
        self._pending.extend(batch.to_batches() if isinstance(batch, pa.Table) else [batch])
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        while self._pending_rows >= self.row_group_rows:
            self._flush(self.row_group_rows)

    def _flush(self, rows: int) -> None:
        table = pa.Table.from_batches(self._pending, self.schema)
        self._writer.write_table(table.slice(0, rows), row_group_size=rows)
        rest = table.slice(rows)
        self._pending, self._pending_rows = rest.to_batches(), rest.num_rows

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None and self._pending_rows:
            self._flush(self._pending_rows)
        self._writer.close()
        self._atomic.__exit__(exc_type, *exc)


class WriteBehind:
    """Runs file writes on one thread, in the order they were asked for, with at most one waiting. Arrow encodes and
    compresses without holding the GIL, so the files are written while the caller reads, hashes or sorts the next
    batch; each file still receives the same writes in the same order, hence the same bytes."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="write-behind")
        self._pending: deque[Future[None]] = deque()

    def __call__(self, write: Callable[..., object], *args: object) -> None:
        self._pending.append(self._pool.submit(write, *args))
        while len(self._pending) > 1:
            self._pending.popleft().result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # Waits even after an error, so that no write is still going into a file or folder about to be removed.
        self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
        if exc_type is None:
            for write in self._pending:
                write.result()


def json_line(record: dict[str, Any]) -> bytes:
    """One line of a report: `record` as JSON in UTF-8, keys sorted, and a newline."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


class JsonlSink:
    """Writes one JSON object per line, atomically; the rejects reports use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def __enter__(self) -> JsonlSink:
        self._atomic = atomic_path(self.path)
        self._file = self._atomic.__enter__().open("wb")
        return self

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json_line(record))
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        self._atomic.__exit__(*exc)


def table_files(path: Path) -> list[Path]:
    """The parquet files of a stage table: the file itself, or the parts of a directory in name order."""
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def parquet_reader(path: Path) -> pq.ParquetFile:
    """A reader of one parquet file that holds about one batch in memory, not a row group: no pre-buffering and a
    small read buffer."""
    return pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)


def read_batches(path: Path, batch_rows: int = 65_536, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of a stage table (see `table_files`), in order."""
    for file in table_files(path):
        yield from parquet_reader(file).iter_batches(batch_size=batch_rows, columns=columns)


def read_sample(path: Path, rows: int) -> pa.Table:
    """At most `rows` rows of a stage table (see `table_files`): all of it when it is that small, else as many of
    the first rows of each row group (of row groups spread evenly over it, if it has more than `rows`). The sample
    spans the whole input while neighbouring rows stay together (a learning rule must see the neighbours a
    misalignment shifts), and only the pages that hold it are decoded. The same table always gives the same
    sample."""
    readers = [parquet_reader(file) for file in table_files(path)]
    if sum(reader.metadata.num_rows for reader in readers) <= rows:
        return pq.read_table(path)
    groups = [
        (reader, index)
        for reader in readers
        for index in range(reader.metadata.num_row_groups)
        if reader.metadata.row_group(index).num_rows
    ]
    chosen = groups if len(groups) <= rows else [groups[i * len(groups) // rows] for i in range(rows)]
    per_group = rows // len(chosen)
    taken = [next(reader.iter_batches(batch_size=per_group, row_groups=[index])) for reader, index in chosen]
    return pa.Table.from_batches(taken, schema=readers[0].schema_arrow)


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """A new directory beside `target`, with the usual permissions, that takes the place of `target` if the block
    succeeds and is removed if it fails; the old `target` is moved aside, not deleted, until the new one is in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    staging.chmod(0o755)
    previous = target.with_name(f".{target.name}-previous")
    try:
        yield staging
        shutil.rmtree(previous, ignore_errors=True)
        if target.exists():
            os.replace(target, previous)
        os.replace(staging, target)
    finally:
        # Had the new directory failed to take its place, the old one goes back.
        if previous.exists() and not target.exists():
            os.replace(previous, target)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


class Progress:
    """Prints a progress line to stderr at most every `every` seconds, so long runs show they are alive."""

    def __init__(self, stage: str, total: int | None = None, unit: str = "rows", every: float = 5.0) -> None:
        self.stage, self.total, self.unit, self.every = stage, total, unit, every
        self.started = self._last = time.monotonic()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        share = f" ({done / self.total:.0%})" if self.total else ""
        print(f"{self.stage}: {done:,} {self.unit}{share}, {now - self.started:.0f} s", file=sys.stderr, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

"""Runs a pure batch function over several processes, keeping the input order and a bounded number of batches in
flight, so memory stays flat whatever the input size.

Pickling record batches to and from the workers costs about as much as the work itself, so stages hand out `Part`s
instead: a worker reads its row group of the input file and writes what it makes to a scratch file, and only the
paths cross between processes. A scratch file holds one part (`Part.spill`, read back whole by `unspill`), or every
part one process takes (`MessageSpill`, read back message by message by `read_messages`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io import parquet_reader

In = TypeVar("In")
Out = TypeVar("Out")


def worker_count(requested: int) -> int:
    """`requested` processes, or one per available core when it is 0."""
    return requested or len(os.sched_getaffinity(0))


class Workers:
    """A pool of `count` processes, started on the first map that has more than one item to share, and reused by the
    maps after it, so that a stage with several parallel passes starts its workers once."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def map(self, function: Callable[[In], Out], items: Iterable[In]) -> Iterator[Out]:
        """`map(function, items)` in order, with at most two items per process in flight."""
        items = iter(items)
        first = next(items, None)
        if first is None:
            return
        second = next(items, None)
        if self.count <= 1 or second is None:
            yield function(first)
            if second is not None:
                yield function(second)
                yield from map(function, items)
            return
        pool = self._started()
        pending: deque[Future[Out]] = deque()
        for item in (first, second):
            pending.append(pool.submit(function, item))
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > 2 * self.count:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Forked, so that the workers start with this process's modules loaded and its settings (the allocator,
            # pandas kept out) in place, instead of each importing everything again. The workers are forked when the
            # first item is submitted, before the pool's own threads start; Arrow and the allocators renew their
            # thread pools in a forked child.
            self._pool = ProcessPoolExecutor(self.count, mp_context=multiprocessing.get_context("fork"))
        return self._pool


def ordered_map(function: Callable[[In], Out], items: Iterable[In], workers: int) -> Iterator[Out]:
    """`map(function, items)`, computed on `workers` processes when there is more than one item to share."""
    with Workers(workers) as pool:
        yield from pool.map(function, items)


@dataclass(frozen=True)
class Part:
    """One row group of a parquet file, and the scratch directory where the worker that takes it writes."""

    source: Path
    index: int
    first_row: int
    scratch: Path

    def batches(self, batch_rows: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        yield from parquet_reader(self.source).iter_batches(
            batch_size=batch_rows, row_groups=[self.index], columns=columns
        )

    def spill(self, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Path:
        """Writes batches to this part's scratch file in Arrow's IPC format, which `unspill` maps back without
        decoding."""
        path = self.scratch / f"{self.index:06d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        return path


def parts(source: Path, scratch: Path) -> list[Part]:
    """The row groups of `source`, in file order."""
    metadata = pq.ParquetFile(source).metadata
    first = 0
    found = []
    for index in range(metadata.num_row_groups):
        found.append(Part(source, index, first, scratch))
        first += metadata.row_group(index).num_rows
    return found


def unspill(path: Path) -> Iterator[pa.RecordBatch]:
    """The batches of a scratch file, memory-mapped, then the file is removed."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index)
    path.unlink()


class MessageSpill:
    """The scratch file of this process in `scratch`, opened for appending record batches as bare IPC messages (no
    schema, no footer), so that all the parts one process takes share one file; `append` says where each batch went,
    for `read_messages`."""

    def __init__(self, scratch: Path, suffix: str) -> None:
        self.path = scratch / f"{os.getpid()}.{suffix}"

    def __enter__(self) -> MessageSpill:
        self._file = self.path.open("ab")
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def append(self, batch: pa.RecordBatch) -> tuple[int, int]:
        """Writes `batch` at the end of the file; returns its message's (offset, size)."""
        message = batch.serialize()
        where = (self._file.tell(), message.size)
        self._file.write(message)
        return where


def read_messages(path: Path, messages: list[tuple[int, int]], schema: pa.Schema) -> list[pa.RecordBatch]:
    """The batches a `MessageSpill` appended to `path` at `messages` (offset, size), in that order; the file is not
    opened when there are none."""
    if not messages:
        return []
    with pa.OSFile(str(path)) as file:
        return [pa.ipc.read_record_batch(file.read_at(size, offset), schema) for offset, size in messages]

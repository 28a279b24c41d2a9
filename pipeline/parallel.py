"""Runs a stage's per-part work on the engine `engine` params choose, keeping the input order and a bounded number of
parts in flight, so memory stays flat whatever the input size; reads and writes nothing itself.

Two engines, one interface (`Workers.map`), so no stage knows which one runs it: `local`, processes forked from the
stage on this machine, and `dask`, the workers of a Dask cluster (`pipeline.cluster`). Either way, pickling record
batches to and from the workers costs about as much as the work itself, so stages hand out `Part`s instead: a
worker reads its row group of the input file and writes what it makes to a part in the run's scratch folder
(`pipeline.scratch`), and only names, paths and small results travel.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io import parquet_reader
from pipeline.scratch import Scratch
from schema.params import EngineParams

In = TypeVar("In")
Out = TypeVar("Out")


def worker_count(requested: int) -> int:
    """`requested` processes, or one per available core when it is 0."""
    return requested or len(os.sched_getaffinity(0))


class Workers:
    """The engine's workers, started on the first map that has work for them and reused by the maps after it, so that
    a stage with several parallel passes starts them once.

    The local engine runs a map on the stage's own process when there is one worker or one item, as forking would
    only add to the time; the dask engine sends every item to the cluster."""

    def __init__(self, engine: EngineParams | None = None) -> None:
        self.engine = engine or EngineParams()
        self._stack = ExitStack()
        self._executor: Executor | None = None
        self._slots = worker_count(self.engine.workers)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def map(self, function: Callable[[In], Out], items: Iterable[In]) -> Iterator[Out]:
        """`map(function, items)` in order, with at most two items per worker in flight."""
        items = iter(items)
        first = next(items, None)
        if first is None:
            return
        second = next(items, None)
        if self.engine.kind == "local" and (self._slots <= 1 or second is None):
            yield function(first)
            if second is not None:
                yield function(second)
                yield from map(function, items)
            return
        executor = self._started()
        pending: deque[Future[Out]] = deque()
        for item in (first, second) if second is not None else (first,):
            pending.append(executor.submit(function, item))
        for item in items:
            pending.append(executor.submit(function, item))
            if len(pending) > 2 * self._slots:
                yield self.result(pending.popleft())
        while pending:
            yield self.result(pending.popleft())

    def submit(self, function: Callable[[In], Out], item: In) -> Future[Out]:
        """`function(item)` started beside the maps that follow, for `result`; on the stage's own process when the
        local engine has one worker."""
        if self.engine.kind == "local" and self._slots <= 1:
            done: Future[Out] = Future()
            done.set_result(function(item))
            return done
        return self._started().submit(function, item)

    def result(self, future: Future[Out]) -> Out:
        """What a task returned, once it has ended; a failure of the cluster's own is told as a StageError."""
        if self.engine.kind == "local":
            return future.result()
        from pipeline import cluster

        try:
            return future.result()
        except Exception as exc:
            failure = cluster.failure(exc)
            if failure is None:
                raise
            raise failure from None

    def _started(self) -> Executor:
        if self._executor is None:
            if self.engine.kind == "dask":
                from pipeline import cluster

                connected = self._stack.enter_context(cluster.connected(self.engine, self._slots))
                self._executor, self._slots = connected.executor, connected.slots
            else:
                # Forked, so that the workers start with this process's modules loaded and its settings (the
                # allocator, pandas kept out) in place, instead of each importing everything again. The workers are
                # forked when the first item is submitted, before the pool's own threads start; Arrow and the
                # allocators renew their thread pools in a forked child.
                # Each worker first moves the objects it inherits out of the collector's reach: its full collections
                # would otherwise go through all of them again (numba's alone are many), to no end.
                pool = ProcessPoolExecutor(
                    self._slots, mp_context=multiprocessing.get_context("fork"), initializer=gc.freeze
                )
                self._stack.callback(pool.shutdown, wait=True, cancel_futures=True)
                self._executor = pool
        return self._executor


@dataclass(frozen=True)
class Part:
    """One row group of a parquet file (an absolute path, so that any worker finds it), and the scratch folder where
    the worker that takes it writes."""

    source: Path
    index: int
    first_row: int
    scratch: Scratch

    def batches(self, batch_rows: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        yield from parquet_reader(self.source).iter_batches(
            batch_size=batch_rows, row_groups=[self.index], columns=columns
        )

    def name(self, kind: str) -> str:
        """The name of this part's `kind` of scratch part."""
        return f"{kind}-{self.index:06d}.arrow"


def parts(source: Path, scratch: Scratch) -> list[Part]:
    """The row groups of `source`, in file order."""
    metadata = pq.ParquetFile(source).metadata
    first = 0
    found = []
    for index in range(metadata.num_row_groups):
        found.append(Part(source.resolve(), index, first, scratch))
        first += metadata.row_group(index).num_rows
    return found

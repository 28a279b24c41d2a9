"""Runs a pure batch function over several processes, keeping the input order and a bounded number of batches in
flight, so memory stays flat whatever the input size."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def worker_count(requested: int) -> int:
    """`requested` processes, or one per available core when it is 0."""
    return requested or len(os.sched_getaffinity(0))


def ordered_map(function: Callable[[In], Out], items: Iterable[In], workers: int) -> Iterator[Out]:
    """`map(function, items)`, computed on `workers` processes when there is more than one item to share."""
    items = iter(items)
    first = next(items, None)
    if first is None:
        return
    second = next(items, None)
    if workers <= 1 or second is None:
        yield function(first)
        if second is not None:
            yield function(second)
            yield from map(function, items)
        return
    # Spawned, not forked: Arrow's thread pools in this process must not be copied mid-work.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[Out]] = deque()
        for item in (first, second):
            pending.append(pool.submit(function, item))
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

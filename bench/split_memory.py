"""Memory of split's global step, which runs on the stage's own process whatever the engine: the peak that NumPy
allocates (traced by tracemalloc) from the rows' key and id hashes to their split codes and buckets, per row.

Usage: python bench/split_memory.py [--rows 1000000 4000000]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc

import numpy as np

from pipeline.engine.buckets import Buckets
from pipeline.engine.components import KeyGraph
from pipeline.split import Pins, assign
from schema.params import SplitParams


def hashes(rows: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Key and id hashes of `rows` rows, about 2 % of which share a side with another row, as duplicates and
    variants do in the generated corpora."""
    rng = np.random.default_rng(seed)
    english = rng.integers(0, 2**64, rows, dtype=np.uint64)
    french = rng.integers(0, 2**64, rows, dtype=np.uint64)
    shared = rng.random(rows) < 0.02
    english[shared] = english[rng.integers(0, rows, int(shared.sum()))]
    return {"english": english, "french": french, "id": english ^ (french * np.uint64(0x9E3779B97F4A7C15))}


def measure(rows: int) -> tuple[float, float]:
    """Peak bytes per row of the global step (the hashes it is handed included), and its seconds."""
    given = hashes(rows)
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    ids = given["id"]
    assignment = assign(KeyGraph.of(given, Pins.none().lookup), ids, SplitParams())
    Buckets.of(given.pop("id"), 4)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del assignment
    return peak / rows, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    for rows in parser.parse_args().rows:
        per_row, seconds = measure(rows)
        print(
            f"rows={rows} peak_bytes_per_row={per_row:.1f} peak_mib={per_row * rows / 2**20:.0f} seconds={seconds:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

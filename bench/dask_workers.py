"""Peak memory of the Dask workers, stage by stage, at several corpus sizes: whether a worker's memory stays flat as
the input grows (the stage's own process is measured by `bench/run.py`).

Generates each corpus from the reconstruction, runs ingest, validate, split and build from a work directory, each
stage on a new LocalCluster of 2 worker processes (loopback only), and after each stage reads every worker's peak RSS
(`VmHWM`).

Usage: python bench/dask_workers.py [--rows 200000 1000000 2000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
from corpus import generate
from distributed import Client, LocalCluster
from run import stage_commands

from pipeline import process
from schema.params import Params

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RECONSTRUCTION = REPO.parent / "shared" / "data" / "nyu-dlsp20-en-fr.csv"
STAGES = ("ingest", "validate", "split", "build")
# The stages whose work runs on the workers for a corpus of one file (ingest reads one file on its own process).
ON_WORKERS = STAGES[1:]


def peak_mib() -> float:
    """This process's peak RSS since it started its program (`VmHWM`): unlike `ru_maxrss`, which Linux carries over
    from the parent through fork and exec, it starts afresh in a spawned worker."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def stage_paths(stage: str, command: list[str]) -> object:
    """The stage's paths dataclass, from its command as `dvc.yaml` gives it (paths relative to the work directory)."""
    module = importlib.import_module(f"pipeline.{stage}")
    paths_type = getattr(module, f"{stage.capitalize()}Paths")
    return process.paths_from(paths_type, process.paths_parser(stage, paths_type, "").parse_args(command[3:]))


@contextmanager
def cluster() -> Iterator[Client]:
    """A client of a new LocalCluster of 2 worker processes, spawned rather than forked as a stage's are
    (`pipeline.cluster`): a forked worker's peak would count the pages it shares with this process."""
    with (
        dask.config.set({"distributed.worker.profile.enabled": False}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as local,
        Client(local) as client,
    ):
        yield client


def measure(rows: int, workdir: Path) -> dict[str, float]:
    """The largest peak RSS of the 2 workers in each stage, each stage on new worker processes."""
    corpus = workdir / f"corpus-{rows}.csv"
    generate(RECONSTRUCTION, corpus, rows)
    root = workdir / f"run-{rows}"
    root.mkdir()
    shutil.copy2(REPO / "dataset_card.md", root / "dataset_card.md")
    commands = stage_commands(REPO)
    raw = {"ingest": {"source": str(corpus)}, "release": {"version": "1.0.0", "date": "2026-01-01"}}
    peaks = {}
    cwd = Path.cwd()
    os.chdir(root)
    try:
        for stage in STAGES:
            with cluster() as client:
                params = Params.model_validate({**raw, "engine": {"kind": "dask", "address": client.scheduler.address}})
                importlib.import_module(f"pipeline.{stage}").run(params, stage_paths(stage, commands[stage]))
                peaks[stage] = max(client.run(peak_mib).values())
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)
        corpus.unlink()
    return peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000, 2_000_000])
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-dask-"))
    print(f"{'rows':>10} " + " ".join(f"{stage:>10}" for stage in ON_WORKERS) + "   (peak RSS of a worker, MiB)")
    for rows in args.rows:
        peaks = measure(rows, workdir)
        print(f"{rows:>10,} " + " ".join(f"{peaks[stage]:>10,.0f}" for stage in ON_WORKERS), flush=True)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

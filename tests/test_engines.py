"""The engines make the same release: the stages run on a Dask cluster of 2 worker processes (on the loopback
interface only) and on the local engine, and every file they write is compared byte for byte, on the reconstruction,
on hostile inputs and on a corpus of several parts per stage, with a worker killed in the middle of validate."""

from __future__ import annotations

import importlib
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import WorkerPlugin

from tests.helpers import REPO, SEED, make_params, reconstruction, stage_paths

STAGES = ("ingest", "validate", "split", "build")
HOSTILE = REPO / "tests" / "data" / "e2e" / "raw.csv"


def run_stages(root: Path, source: Path, engine: dict[str, Any], **sections: dict[str, Any]) -> dict[str, bytes]:
    """Runs the stages with `root` as the working directory, as DVC runs them from the repo root; returns every file
    they wrote, by path."""
    root.mkdir(parents=True, exist_ok=True)
    params = make_params(source, engine=engine, **sections)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        for stage in STAGES:
            importlib.import_module(f"pipeline.{stage}").run(params, stage_paths(stage, root))
    finally:
        os.chdir(cwd)
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def assert_same(local: dict[str, bytes], dask: dict[str, bytes]) -> None:
    assert sorted(local) == sorted(dask)
    assert {"data/ingested.parquet", "dist/hub/manifest.parquet", "metrics/build.json"} <= set(local)
    assert [path for path in local if local[path] != dask[path]] == []


def test_a_local_cluster_makes_the_release_the_local_engine_makes_from_the_reconstruction(tmp_path):
    source = reconstruction()
    local = run_stages(tmp_path / "local", source, {"kind": "local"})
    dask = run_stages(tmp_path / "dask", source, {"kind": "dask", "address": "local", "workers": 2})
    assert_same(local, dask)


@pytest.mark.parametrize("build", [{}, {"shard_rows": 2, "row_group_rows": 1}])
def test_the_engines_make_the_same_release_from_hostile_input(tmp_path, dask_scheduler, build):
    local = run_stages(tmp_path / "local", HOSTILE, {"kind": "local"}, build=build)
    dask = run_stages(tmp_path / "dask", HOSTILE, {"kind": "dask", "address": dask_scheduler}, build=build)
    assert_same(local, dask)


def test_the_engines_make_the_same_release_from_a_directory_of_raw_files_each_accounted_for(tmp_path, dask_scheduler):
    raw = tmp_path / "raw"
    raw.mkdir()
    # The same hostile file twice, so that rows of one file are merged into rows of another.
    for name, source in (("a-hostile.csv", HOSTILE), ("b-seed.csv", SEED), ("c-hostile-again.csv", HOSTILE)):
        (raw / name).write_bytes(source.read_bytes())
    local = run_stages(tmp_path / "local", raw, {"kind": "local", "workers": 2})
    dask = run_stages(tmp_path / "dask", raw, {"kind": "dask", "address": dask_scheduler})
    assert_same(local, dask)
    ingest, validate, split, build = (json.loads(local[f"metrics/{stage}.json"]) for stage in STAGES)
    assert list(ingest["files"]) == ["a-hostile.csv", "b-seed.csv", "c-hostile-again.csv"]
    assert split["not_released_by_source"]["c-hostile-again.csv"]["duplicate"] > 0
    for source, counts in ingest["files"].items():
        assert counts["records"] == (
            build["rows_by_source"].get(source, 0)
            + counts["rejected"]
            + validate["rejected_by_source"].get(source, 0)
            + sum(split["not_released_by_source"].get(source, {}).values())
        )
    released = pa.concat_tables(
        pq.read_table(tmp_path / "local" / path) for path in local if path.startswith("dist/hub/data/")
    )
    # Every row of the second copy is a duplicate of the first's, which is kept.
    assert set(released["source"].to_pylist()) == {"a-hostile.csv", "b-seed.csv"}


class KillOnce(WorkerPlugin):
    """A worker plugin: the first worker to start a task whose key holds `task` kills its own process `delay`
    seconds later, with no chance to clean up; `marker`, a file every worker sees, makes it happen once."""

    name = "kill-once"

    def __init__(self, task: str, marker: str, delay: float) -> None:
        self.task, self.marker, self.delay = task, marker, delay

    def transition(self, key: object, start: str, finish: str, **kwargs: object) -> None:
        if finish != "executing" or self.task not in str(key):
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        threading.Timer(self.delay, os.kill, (os.getpid(), signal.SIGKILL)).start()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A corpus generated from the reconstruction, large enough for several parts in every stage."""
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    try:
        from corpus import generate
    finally:
        sys.path.remove(str(REPO / "bench"))
    path = tmp_path_factory.mktemp("corpus") / "corpus.csv"
    generate(reconstruction(), path, 150_000)
    return path


def test_a_worker_killed_during_validate_changes_no_byte_nor_do_worker_count_and_task_order(
    tmp_path, corpus, dask_scheduler
):
    from distributed import Client

    sections = {"build": {"shard_rows": 40_000, "row_group_rows": 10_000}}
    local = run_stages(tmp_path / "local", corpus, {"kind": "local", "workers": 1}, **sections)
    marker = tmp_path / "killed"
    with Client(dask_scheduler) as client:
        before = set(client.scheduler_info()["workers"])
        client.register_plugin(KillOnce("validate_part", str(marker), 0.2))
        try:
            dask = run_stages(tmp_path / "dask", corpus, {"kind": "dask", "address": dask_scheduler}, **sections)
        finally:
            client.unregister_worker_plugin(KillOnce.name)
        client.wait_for_workers(2, timeout=60)
        after = set(client.scheduler_info()["workers"])
    assert marker.exists() and before - after, "a worker was killed and replaced"
    assert sum(path.startswith("dist/hub/data/train-") for path in local) > 1
    assert_same(local, dask)

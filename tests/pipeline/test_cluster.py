"""Tests of pipeline/cluster.py: a scheduler that cannot be reached is one clear message, naming the address and the
fix, with no traceback and nothing written."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import yaml

from pipeline import ingest
from pipeline.io import StageError
from tests.helpers import make_params, stage_paths


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raw_directory(folder):
    (folder / "raw").mkdir()
    for name in ("a.csv", "b.csv"):
        (folder / "raw" / name).write_text("English;French\nWeek 1;Semaine 1\n", encoding="utf-8")


def test_an_unreachable_scheduler_fails_fast_naming_the_address_and_the_fix(tmp_path, monkeypatch, closed_port):
    monkeypatch.chdir(tmp_path)
    raw_directory(tmp_path)
    address = f"tcp://127.0.0.1:{closed_port}"
    paths = stage_paths("ingest", tmp_path)
    started = time.monotonic()
    with pytest.raises(StageError) as failure:
        ingest.run(make_params("raw", engine={"kind": "dask", "address": address}), paths)
    assert time.monotonic() - started < 30
    message = str(failure.value)
    assert f"cannot reach the Dask scheduler at {address}" in message
    assert "dask scheduler" in message and "engine.address" in message and "engine.kind" in message
    assert not paths.output.exists() and not paths.metrics.exists()
    assert not list(tmp_path.glob("data/.ingest-*")), "the scratch folder is removed"


def test_the_stage_program_says_so_in_one_line_and_exits_1(tmp_path, closed_port):
    raw_directory(tmp_path)
    params = {
        "ingest": {"source": "raw"},
        "engine": {"kind": "dask", "address": f"tcp://127.0.0.1:{closed_port}"},
        "release": {"version": "1.0.0", "date": "2026-01-01"},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    command = [sys.executable, "-m", "pipeline.ingest", "--output", "in.parquet", "--rejects", "r.jsonl"]
    run = subprocess.run([*command, "--metrics", "m.json"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert f"ingest: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{closed_port}" in run.stderr

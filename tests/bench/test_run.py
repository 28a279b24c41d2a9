"""Smoke test of the benchmark: `bench/run.py --rows 2000 --repeat 2` runs every step twice and ends with the summary
line."""

from __future__ import annotations

import math
import re
import subprocess
import sys

from tests.helpers import REPO, reconstruction

SUMMARY = re.compile(
    r"rows=(?P<rows>\d+) pipeline_s=(?P<pipeline_s>\S+) floor_s=(?P<floor_s>\S+) baseline_s=(?P<baseline_s>\S+) "
    r"ratio_floor=(?P<ratio_floor>\S+) speedup_baseline=(?P<speedup_baseline>\S+) peak_rss_mb=(?P<peak_rss_mb>\S+)"
)


def test_bench_runs_at_2000_rows(tmp_path):
    reconstruction()
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--rows", "2000", "--repeat", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("step "))
    assert header.split()[:3] == ["step", "wall", "s"] and "peak RSS MiB" in header
    rows = {line.split()[0] for line in lines[lines.index(header) + 1 : -1]}
    assert {"floor", "baseline", "ingest", "validate", "split", "build", "stages", "pipeline"} <= rows
    assert "round 2 of 2" in lines and "medians of 2 rounds" in lines

    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    values = {name: float(value) for name, value in summary.groupdict().items()}
    assert values["rows"] == 2000
    assert all(math.isfinite(value) and value > 0 for value in values.values())
    # The line prints two decimals: ratios recomputed from the printed times agree up to that rounding.
    assert math.isclose(values["ratio_floor"], values["pipeline_s"] / values["floor_s"], rel_tol=0.02, abs_tol=0.01)
    assert math.isclose(
        values["speedup_baseline"], values["baseline_s"] / values["pipeline_s"], rel_tol=0.02, abs_tol=0.01
    )
    # The temporary work directory is removed, and nothing is written where the benchmark was started.
    assert not any(tmp_path.iterdir())


def test_bench_runs_the_stages_on_the_dask_engine(tmp_path):
    reconstruction()
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--rows", "500", "--engine", "dask"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "engine: dask (a LocalCluster of 2 worker processes per stage)" in lines
    assert {"ingest", "validate", "split", "build", "pipeline"} <= {line.split()[0] for line in lines if line.strip()}
    assert SUMMARY.fullmatch(lines[-1]), lines[-1]


def test_medians_take_each_step_over_the_rounds():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from run import Step, medians
    finally:
        sys.path.remove(str(REPO / "bench"))
    rounds = [
        [Step("floor", 1.0, 2.0, 100.0), Step("ingest", 5.0, 6.0, 300.0)],
        [Step("floor", 3.0, 1.0, 120.0), Step("ingest", 4.0, 9.0, 200.0)],
        [Step("floor", 2.0, 3.0, 110.0), Step("ingest", 6.0, 7.0, 250.0)],
    ]
    assert [(step.name, step.wall_s, step.cpu_s, step.peak_mib) for step in medians(rounds)] == [
        ("floor", 2.0, 2.0, 110.0),
        ("ingest", 5.0, 7.0, 250.0),
    ]

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

# The summary line prints every figure to two decimals, so each is within half a hundredth of the value it was
# printed from (and a hair more, for the binary floats the rounding starts from).
PRINTED_WITHIN = 0.005 + 1e-9


def printed_ratio_range(numerator: float, denominator: float) -> tuple[float, float]:
    """The values a ratio printed on the summary line can take, given its two terms as printed there: each term was
    rounded to two decimals before printing, and the ratio, computed from the unrounded terms, was too."""
    low = (numerator - PRINTED_WITHIN) / (denominator + PRINTED_WITHIN) - PRINTED_WITHIN
    high = (numerator + PRINTED_WITHIN) / (denominator - PRINTED_WITHIN) + PRINTED_WITHIN
    return low, high


def test_a_printed_ratio_is_checked_to_the_precision_of_its_printed_terms():
    # pipeline 10.004 s over a floor of 0.2049 s prints as 10.00 and 0.20, and their ratio as 48.82: 2.4 % off the
    # 50.00 that the printed terms give, all of it rounding.
    pipeline_s, floor_s = 10.004, 0.2049
    printed = [float(f"{value:.2f}") for value in (pipeline_s, floor_s, pipeline_s / floor_s)]
    assert printed == [10.00, 0.20, 48.82]
    low, high = printed_ratio_range(printed[0], printed[1])
    assert low <= printed[2] <= high
    # A ratio of other terms, or computed the other way round, is outside what rounding explains.
    assert not low <= 10.00 / 0.25 <= high
    assert not low <= 0.20 / 10.00 <= high


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
    low, high = printed_ratio_range(values["pipeline_s"], values["floor_s"])
    assert low <= values["ratio_floor"] <= high, (values["ratio_floor"], low, high)
    low, high = printed_ratio_range(values["baseline_s"], values["pipeline_s"])
    assert low <= values["speedup_baseline"] <= high, (values["speedup_baseline"], low, high)
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

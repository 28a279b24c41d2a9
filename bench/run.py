"""Benchmark of the release pipeline against the I/O floor and a hand-written baseline, on an N-record corpus.

Generates the corpus from the reconstruction (`bench/corpus.py`) into a work directory, then runs, each as its own
child process in this run: the floor (`bench/floor.py`), the baseline (`bench/baseline.py`, only up to
`--baseline-max-rows`, as it holds everything in memory), then, in a DVC project made in the work directory from
the repo's `dvc.yaml`, code and DVC settings with `params.yaml` pointed at the corpus, the pipeline stage by stage
(each stage's command as `dvc.yaml` gives it) and last as a maintainer runs it: `dvc repro build`, with an empty
cache. Prints wall time, throughput and peak RSS of each step, and last one
line:

    rows=N pipeline_s=… floor_s=… baseline_s=… ratio_floor=… speedup_baseline=… peak_rss_mb=…

where `pipeline_s` is the wall time of `dvc repro build` (the stages, plus DVC hashing and caching every output and
writing `dvc.lock`), `peak_rss_mb` is the largest peak of any stage or of `dvc repro`, `ratio_floor` is
`pipeline_s / floor_s` and `speedup_baseline` is `baseline_s / pipeline_s` (`nan` when the baseline is skipped).
The table's `stages` row sums the stages run one by one, without DVC.

With `--repeat K`, the floor, the baseline, the stages and `dvc repro` run K times in rounds, and each step's median
is reported. With `--engine dask`, the stages run on the dask engine, each on a LocalCluster of 2 worker processes
that it starts (`engine.address: local`), instead of the local engine's forked processes.

Usage: python bench/run.py --rows 1000000 [--engine local|dask] [--repeat K] [--workdir DIR] [--baseline-max-rows N]
       [--keep]
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from corpus import generate

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RECONSTRUCTION = REPO.parent / "shared" / "data" / "nyu-dlsp20-en-fr.csv"
# The stages `dvc repro build` runs; publish talks to a Hub and is not part of the benchmark.
STAGES = ("ingest", "validate", "split", "build")
# What `dvc repro build` needs from the repo: the pipeline, its code and its DVC settings.
DVC_PROJECT = ("dvc.yaml", ".dvcignore", "dataset_card.md", "pipeline", "schema", "localhub")
# What `dvc repro` leaves in the project, cleared before each round so that every round starts with an empty cache.
DVC_OUTPUTS = ("data", "dist", "metrics", "plots", "dvc.lock", ".dvc/cache", ".dvc/tmp")
# The engine params of each `--engine`: the dask engine on a LocalCluster of 2 worker processes.
ENGINES = {
    "local": {"kind": "local", "address": "local", "workers": 0, "scratch": None},
    "dask": {"kind": "dask", "address": "local", "workers": 2, "scratch": None},
}
# What the baseline was measured to need, and what it may use here.
BASELINE_GB_PER_MILLION = 6.3
BASELINE_MAX_GB = 16


@dataclass
class Step:
    name: str
    wall_s: float
    cpu_s: float = math.nan
    peak_mib: float = math.nan
    note: str = ""


class StepFailed(Exception):
    pass


def measure(name: str, argv: list[str], cwd: Path, env: dict[str, str], logs: Path) -> Step:
    """Runs one child process to the end; its wall time, CPU time and peak RSS come from its own rusage."""
    stdout, stderr = logs / f"{name}.out", logs / f"{name}.err"
    # The files earlier steps wrote or removed reach the disk first, so that no step pays for another's writeback.
    os.sync()
    started = time.perf_counter()
    with stdout.open("w") as out, stderr.open("w") as err:
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        # wait4 rather than wait: it returns the rusage of this child alone, whose ru_maxrss (KiB) is its peak.
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        tail = "".join(stderr.read_text(errors="replace").splitlines(keepends=True)[-20:])
        raise StepFailed(f"{name} exited with {child.returncode} after {wall:.1f} s:\n{tail}")
    for line in stdout.read_text(errors="replace").splitlines():
        print(f"  {line}")
    return Step(name, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def child_env(workdir: Path) -> dict[str, str]:
    """The stages import the repo's packages, and `datasets` keeps its caches inside the work directory."""
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "HF_HOME": str(workdir / "hf-home"),
            "HF_DATASETS_CACHE": str(workdir / "hf-datasets"),
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        }
    )
    return env


def write_params(workdir: Path, corpus: Path, engine: str) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"]["source"] = str(corpus)
    params["engine"] = ENGINES[engine]
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")


# Compiles the misaligned rule's loops into numba's cache beside the project's copy of the code, where a
# maintainer's first run leaves them: a few pairs that use every kind of token.
_COMPILE_LOOPS = (
    "import pyarrow as pa\n"
    "from pipeline.alignment.scorer import CrossFitted\n"
    "texts = pa.array(['See `x` at https://a.org/b, 1 \\\\alpha', 'Or `y`, 22'] * 2)\n"
    "CrossFitted.learn(texts, texts, 200, 1, 1).score(texts, texts)\n"
)


def dvc_project(workdir: Path, corpus: Path, engine: str) -> Path:
    """A DVC project in `workdir/dvc` with the repo's `dvc.yaml`, code and `.dvc/config`, its params pointed at
    `corpus` and `engine`, and the code compiled once (bytecode as `make repro` does, the rule's loops as the first
    run does)."""
    project = workdir / "dvc"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    for name in DVC_PROJECT:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, project / name)
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "--quiet"], cwd=project, check=True)
    # The repo's settings (the cache's link type among them), in a project that is not a git repository.
    shutil.copy2(REPO / ".dvc" / "config", project / ".dvc" / "config")
    subprocess.run([sys.executable, "-m", "dvc", "config", "core.no_scm", "true"], cwd=project, check=True)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "pipeline", "schema", "localhub"],
        cwd=project,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run([sys.executable, "-c", _COMPILE_LOOPS], cwd=project, check=True)
    write_params(project, corpus, engine)
    return project


def stage_commands(project: Path) -> dict[str, list[str]]:
    """The commands of the stages the benchmark runs one by one, as DVC renders them from the project's `dvc.yaml`
    (which names every file a stage reads and writes)."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        commands = {stage.name: shlex.split(stage.cmd) for stage in repo.index.stages}
    return {stage: commands[stage] for stage in STAGES}


def clear_outputs(project: Path) -> None:
    for output in DVC_OUTPUTS:
        path = project / output
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def dvc_env(workdir: Path) -> dict[str, str]:
    """The stages' environment, with this interpreter's directory first on PATH: `dvc.yaml` runs `python -m ...`."""
    env = child_env(workdir)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def table(steps: list[Step], rows: int) -> str:
    lines = [f"{'step':<10} {'wall s':>9} {'rows/s':>11} {'peak RSS MiB':>13} {'cpu s':>8}  note"]
    for step in steps:
        rate = f"{rows / step.wall_s:>11,.0f}" if step.wall_s > 0 else f"{'-':>11}"
        wall = f"{step.wall_s:>9.2f}" if not math.isnan(step.wall_s) else f"{'-':>9}"
        peak = f"{step.peak_mib:>13,.0f}" if not math.isnan(step.peak_mib) else f"{'-':>13}"
        cpu = f"{step.cpu_s:>8.2f}" if not math.isnan(step.cpu_s) else f"{'-':>8}"
        lines.append(f"{step.name:<10} {wall} {rate} {peak} {cpu}  {step.note}".rstrip())
    return "\n".join(lines)


def run_round(corpus: Path, workdir: Path, project: Path, baseline_max_rows: int, rows: int) -> list[Step]:
    """The floor, the baseline, the stages and `dvc repro build` once, each as its own process, from a work directory
    cleared of the outputs of an earlier round (overwriting files costs the file system more than writing new
    ones)."""
    python, env, logs = sys.executable, child_env(workdir), workdir / "logs"
    for output in ("data", "dist", "metrics", "plots", "baseline"):
        shutil.rmtree(workdir / output, ignore_errors=True)
    (workdir / "floor.parquet").unlink(missing_ok=True)
    print("floor: Arrow CSV → zstd parquet")
    steps = [
        measure(
            "floor", [python, str(BENCH / "floor.py"), str(corpus), str(workdir / "floor.parquet")], workdir, env, logs
        )
    ]
    if rows <= baseline_max_rows:
        print("baseline: pandas + per-row Pydantic + datasets train_test_split")
        try:
            steps.append(
                measure(
                    "baseline",
                    [python, str(BENCH / "baseline.py"), str(corpus), str(workdir / "baseline")],
                    workdir,
                    env,
                    logs,
                )
            )
        except StepFailed as exc:
            # A baseline killed for lack of memory is a result, not a reason to drop the pipeline's figures.
            print(f"  {exc}")
            steps.append(Step("baseline", math.nan, note="failed: see the message above"))
    else:
        steps.append(
            Step(
                "baseline",
                math.nan,
                note=f"skipped: needs ~{rows / 1e6 * BASELINE_GB_PER_MILLION:,.1f} GB "
                f"({BASELINE_GB_PER_MILLION} GB per 1M rows) above --baseline-max-rows {baseline_max_rows:,}",
            )
        )
        print(f"baseline: {steps[-1].note}")
    clear_outputs(project)
    for stage, command in stage_commands(project).items():
        print(f"{stage}: {shlex.join(command)}")
        steps.append(measure(stage, [python, *command[1:]], project, env, logs))
    clear_outputs(project)
    print("pipeline: dvc repro build")
    steps.append(measure("pipeline", [python, "-m", "dvc", "repro", "build"], project, dvc_env(workdir), logs))
    return steps


def medians(rounds: list[list[Step]]) -> list[Step]:
    """Each step's median wall time, CPU time and peak over the rounds (the rounds run the same steps in order)."""
    return [
        Step(
            same[0].name,
            *(statistics.median(getattr(step, field) for step in same) for field in ("wall_s", "cpu_s", "peak_mib")),
            same[0].note,
        )
        for same in zip(*rounds, strict=True)
    ]


def bench(rows: int, workdir: Path, baseline_max_rows: int, repeat: int = 1, engine: str = "local") -> int:
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    corpus = workdir / "corpus.csv"

    print(f"generate: {rows:,} records into {corpus}")
    started = time.perf_counter()
    kinds = generate(RECONSTRUCTION, corpus, rows)
    steps = [
        Step(
            "generate",
            time.perf_counter() - started,
            note=f"{corpus.stat().st_size / 2**20:,.0f} MiB; "
            + ", ".join(f"{n} {k:,}" for n, k in sorted(kinds.items())),
        )
    ]
    print(f"  {steps[0].note}")

    project = dvc_project(workdir, corpus, engine)
    rounds = []
    for index in range(repeat):
        if repeat > 1:
            print(f"round {index + 1} of {repeat}")
        rounds.append(run_round(corpus, workdir, project, baseline_max_rows, rows))
    measured = medians(rounds)
    floor, baseline, stages, pipeline = measured[0], measured[1], measured[2:-1], measured[-1]
    steps += measured[:-1]
    # Sums of medians, not the median of sums: each step's figure is the one the table shows.
    stages_s = sum(step.wall_s for step in stages)
    peak = max(step.peak_mib for step in stages)
    steps.append(
        Step(
            "stages",
            stages_s,
            sum(step.cpu_s for step in stages),
            peak,
            note="sum of " + " + ".join(step.name for step in stages) + " run one by one; peak is the largest stage's",
        )
    )
    pipeline.note = (
        f"dvc repro build, empty cache: the stages plus {pipeline.wall_s - stages_s:.1f} s of DVC "
        "(hashing and caching every output, writing dvc.lock)"
    )
    steps.append(pipeline)
    pipeline_s, peak = pipeline.wall_s, max(peak, pipeline.peak_mib)
    print()
    print(f"engine: {engine}" + (" (a LocalCluster of 2 worker processes per stage)" if engine == "dask" else ""))
    if repeat > 1:
        print(f"medians of {repeat} rounds")
    print(table(steps, rows))
    print(
        f"rows={rows} pipeline_s={pipeline_s:.2f} floor_s={floor.wall_s:.2f} baseline_s={baseline.wall_s:.2f} "
        f"ratio_floor={pipeline_s / floor.wall_s:.2f} speedup_baseline={baseline.wall_s / pipeline_s:.2f} "
        f"peak_rss_mb={peak:.1f}"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True, help="records in the generated corpus")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the corpus and every output go (default: a temporary directory, removed at the end "
        "unless --keep); a directory given here is kept",
    )
    parser.add_argument(
        "--baseline-max-rows",
        type=int,
        default=int(BASELINE_MAX_GB / BASELINE_GB_PER_MILLION * 1e6 // 1e6 * 1e6),
        help="skip the baseline above this many rows, as it holds everything in memory "
        f"(~{BASELINE_GB_PER_MILLION} GB per 1M rows; default keeps it under ~{BASELINE_MAX_GB} GB)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the floor, the baseline and the stages this many times, in rounds, and report each "
        "step's median (this machine's speed drifts by some 15 %% between runs)",
    )
    parser.add_argument(
        "--engine",
        choices=sorted(ENGINES),
        default="local",
        help="what runs the stages' per-part work: the local engine's forked processes, or dask on a LocalCluster of "
        "2 worker processes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not RECONSTRUCTION.is_file():
        print(
            f"bench: the reconstruction is not at {RECONSTRUCTION}; it is the source of the generated rows",
            file=sys.stderr,
        )
        return 1
    workdir = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return bench(args.rows, workdir, args.baseline_max_rows, args.repeat, args.engine)
    except StepFailed as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.workdir or args.keep:
            print(f"bench: outputs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

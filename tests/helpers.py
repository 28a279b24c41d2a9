"""Shared test helpers: where the shared corpus lives, and params for a stage run in a temporary directory."""

from __future__ import annotations

import dataclasses
import importlib
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from schema.params import Params

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
RECONSTRUCTION = SHARED_DATA / "nyu-dlsp20-en-fr.csv"
SEED = REPO / "data" / "raw" / "seed-sample.csv"


def reconstruction() -> Path:
    if not RECONSTRUCTION.is_file():
        pytest.skip(f"the 2,292-row reconstruction is not at {RECONSTRUCTION} (../shared/data is absent)")
    return RECONSTRUCTION


def make_params(source: Path | str = "raw.csv", **sections: dict[str, Any]) -> Params:
    raw: dict[str, Any] = {"ingest": {"source": str(source)}, "release": {"version": "1.0.0", "date": "2026-01-01"}}
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return Params.model_validate(raw)


@cache
def dvc_stages() -> dict[str, dict[str, Any]]:
    """`dvc.yaml`'s stages as DVC renders them (variables and params substituted): command, deps, outs, metrics,
    and the params entries as written."""
    from dvc.dependency import ParamsDependency
    from dvc.repo import Repo

    written = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    with Repo(str(REPO)) as repo:
        return {
            stage.name: {
                "cmd": stage.cmd,
                "deps": [str(dep.def_path) for dep in stage.deps if not isinstance(dep, ParamsDependency)],
                "outs": [str(out.def_path) for out in stage.outs if not out.metric],
                "metrics": [str(out.def_path) for out in stage.outs if out.metric],
                "params": written[stage.name].get("params", []),
            }
            for stage in repo.index.stages
        }


def stage_command(stage: str) -> tuple[str, ...]:
    """The arguments `dvc.yaml` gives a stage: the one place where stage paths are named."""
    command = tuple(shlex.split(dvc_stages()[stage]["cmd"]))
    assert command[:3] == ("python", "-m", f"pipeline.{stage}"), command
    return command[3:]


def stage_paths(stage: str, root: Path | None = None) -> Any:
    """The stage's paths dataclass as `dvc.yaml` fills it, relative to `root` when given; files of the repo itself
    (the card template) stay where they are."""
    from pipeline import process

    module = importlib.import_module(f"pipeline.{stage}")
    paths_type = getattr(module, f"{stage.capitalize()}Paths")
    parsed = process.paths_parser(stage, paths_type, "", required=False).parse_args(stage_command(stage))
    paths = process.paths_from(paths_type, parsed)
    if root is None:
        return paths
    outputs = {
        Path(path) for definition in dvc_stages().values() for path in definition["outs"] + definition["metrics"]
    }
    return dataclasses.replace(
        paths,
        **{
            field.name: root / value if value in outputs else REPO / value
            for field in dataclasses.fields(paths)
            if (value := getattr(paths, field.name)) is not None
        },
    )

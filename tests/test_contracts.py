"""Contract tests: params.yaml, dvc.yaml, the Params model and the stage modules agree with each other."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest
import yaml

import pipeline
import schema
from schema.params import Params, ParamsError, load_params
from tests.helpers import REPO, dvc_stages, stage_paths

STAGES = dvc_stages()
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
# The publish stage reads the sections whose keys are relied on from outside the repo.
SECTIONS_OF = {"publish": {"hub", "release"}}


def test_schema_and_pipeline_are_this_repos_packages():
    assert Path(schema.__file__).resolve().parent == REPO / "schema"
    assert Path(pipeline.__file__).resolve().parent == REPO / "pipeline"


def test_stages_run_in_order():
    assert list(STAGES) == ["ingest", "validate", "split", "build", "publish"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_module_matches_its_name(stage):
    definition = STAGES[stage]
    assert definition["cmd"].startswith(f"python -m pipeline.{stage} ")
    module = importlib.import_module(f"pipeline.{stage}")
    assert callable(module.main) and callable(module.run)
    assert module.STAGE == stage
    assert f"pipeline/{stage}.py" in definition["deps"], "a stage depends on its own code"
    assert "pipeline/io.py" in definition["deps"] and "schema/params.py" in definition["deps"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_command_names_exactly_the_files_the_stage_declares(stage):
    """The paths a stage reads and writes come from its command line; each is one of its declared deps or outs,
    and every out it declares is given to it (the release folder, `build.output_dir`, is a param)."""
    definition = STAGES[stage]
    given = {str(value) for value in dataclasses.asdict(stage_paths(stage)).values()}
    assert given <= set(definition["deps"]) | set(definition["outs"]) | set(definition["metrics"])
    assert (set(definition["outs"]) | set(definition["metrics"])) - {PARAMS["build"]["output_dir"]} <= given


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_declares_its_whole_params_section(stage):
    declared = {entry for entry in STAGES[stage]["params"] if isinstance(entry, str) and "." not in entry}
    assert SECTIONS_OF.get(stage, {stage}) <= declared
    assert declared <= set(PARAMS)


@pytest.mark.parametrize("stage", list(STAGES))
def test_no_stage_declares_the_engine_which_is_not_part_of_the_release(stage):
    """Every engine makes the same bytes (tests/test_engines.py), so changing only the engine reruns nothing."""
    assert not [entry for entry in STAGES[stage]["params"] if str(entry).split(".")[0] == "engine"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_metrics_file_is_named_after_the_stage(stage):
    metrics = [next(iter(entry)) if isinstance(entry, dict) else entry for entry in STAGES[stage]["metrics"]]
    assert f"metrics/{stage}.json" in metrics


def test_params_yaml_sections_are_the_model_fields():
    fields = {field.alias or name for name, field in Params.model_fields.items()}
    assert set(PARAMS) == fields


def test_params_yaml_loads_and_keeps_outside_keys():
    params = load_params(REPO / "params.yaml")
    assert params.ingest.source == Path(PARAMS["ingest"]["source"])
    assert (REPO / params.ingest.source).is_file(), "the default raw input is committed"
    assert params.release.version == PARAMS["release"]["version"]
    assert params.hub.endpoint == PARAMS["hub"]["endpoint"] == "embedded"
    assert params.hub.repo_id == PARAMS["hub"]["repo_id"]


def test_ingest_dep_is_the_params_source():
    assert PARAMS["ingest"]["source"] in STAGES["ingest"]["deps"]


def test_each_stage_consumes_what_the_previous_one_writes():
    def outs(stage):
        return {next(iter(entry)) if isinstance(entry, dict) else entry for entry in STAGES[stage].get("outs", [])}

    order = list(STAGES)
    for before, after in zip(order, order[1:], strict=False):
        assert outs(before) & set(STAGES[after]["deps"]), f"{after} does not depend on an output of {before}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ingest: {source: a.csv, delimter: ','}\nrelease: {version: 1.0.0, date: '2026-01-01'}",
            "ingest.delimter: unknown key; valid keys here: source, delimiter",
        ),
        (
            "ingest: {source: a.csv}\nrelease: {version: 1.0.0, date: '2026-01-01'}\nhub: {endpoint: ftp://x}",
            "hub.endpoint",
        ),
        ("ingest: {source: a.csv}\nrelease: {version: '1.0', date: '2026-01-01'}", "release.version"),
        (
            "ingest: {source: a.csv, encoding: utf-9}\nrelease: {version: 1.0.0, date: '2026-01-01'}",
            "unknown encoding 'utf-9'",
        ),
        (
            "ingest: {source: a.csv}\nrelease: {version: 1.0.0, date: '2026-01-01'}\nbuidl: {}",
            "buidl: unknown key; valid keys here: ingest, validate, split, build, engine, hub, release",
        ),
        ("release: {version: 1.0.0, date: '2026-01-01'}", "ingest: required key is missing"),
        (
            "ingest: {source: a.csv}\nrelease: {version: 1.0.0, date: '2026-01-01'}\nengine: {kind: spark}",
            "engine.kind: Input should be 'local' or 'dask'",
        ),
        (
            "ingest: {source: a.csv}\nrelease: {version: 1.0.0, date: '2026-01-01'}\nengine: {address: 10.0.0.5}",
            "address must be 'local' or a scheduler address such as tcp://10.0.0.5:8786",
        ),
    ],
)
def test_bad_params_fail_with_the_key_and_valid_choices(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as failure:
        load_params(path)
    assert message in str(failure.value)


def _project_imports(path: Path) -> set[str]:
    """The repo's own modules that `path` imports, as module names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.split(".")[0] in PACKAGES and _source(name)}
    return found


def _source(module: str) -> Path | None:
    base = REPO / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


PACKAGES = {"pipeline", "schema", "localhub"}


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_depends_on_all_the_code_it_runs(stage):
    """Editing any module a stage imports, directly or not, must make DVC run the stage again."""
    seen, todo = set(), [f"pipeline.{stage}"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(_project_imports(_source(module)))
    deps = [Path(dep) for dep in STAGES[stage]["deps"]]
    files = {_source(module).relative_to(REPO) for module in seen} - {
        Path(package, "__init__.py") for package in PACKAGES
    }
    missing = sorted(str(file) for file in files if not any(file == dep or dep in file.parents for dep in deps))
    assert not missing, f"{stage} runs code it does not declare as a dependency: {missing}"


def test_dvc_hashes_only_the_sources_of_a_code_directory():
    """A bytecode cache changes with the source files' mtimes: were it hashed, a fresh checkout would rerun stages
    and leave dvc.lock modified."""
    from dvc.repo import Repo

    lock = yaml.safe_load((REPO / "dvc.lock").read_text(encoding="utf-8"))
    directories = {
        Path(dep)
        for definition in STAGES.values()
        for dep in definition["deps"]
        if (REPO / dep).is_dir() and Path(dep).parts[0] in PACKAGES
    }
    assert directories, "no code directory among the dependencies"
    with Repo(str(REPO)) as repo:
        for directory in directories:
            cache = REPO / directory / "__pycache__" / "module.cpython-311.pyc"
            assert repo.dvcignore.is_ignored_file(str(cache)), f"{directory}: DVC would hash its bytecode"
    tracked = {
        Path(entry["path"]): entry["nfiles"]
        for stage in lock["stages"].values()
        for entry in stage["deps"]
        if Path(entry["path"]) in directories
    }
    for directory, nfiles in tracked.items():
        sources = [path for path in (REPO / directory).rglob("*") if path.is_file() and "__pycache__" not in path.parts]
        assert nfiles == len(sources), f"dvc.lock hashed {nfiles} files of {directory}, which has {len(sources)}"

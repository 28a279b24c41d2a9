"""Golden end-to-end test: `dvc repro` on a temporary copy of the repo, from a tiny hostile CSV to a tagged release
on the embedded Hub; nothing lost, and a second run has nothing to do.

Set REGENERATE_GOLDEN=1 to rewrite tests/data/e2e/expected_release.json after a deliberate change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.helpers import REPO, dvc_stages

GOLDEN = REPO / "tests" / "data" / "e2e" / "expected_release.json"
RAW = REPO / "tests" / "data" / "e2e" / "raw.csv"

pytestmark = pytest.mark.slow


def copy_repo(destination: Path) -> Path:
    listed = (
        subprocess.run(["git", "ls-files", "--cached", "-z"], cwd=REPO, check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=destination, check=True, env=env)
    return destination


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HOME": str(repo / ".hf-home"),
    }
    for name in ("HF_ENDPOINT", "HF_TOKEN", "HF_DATASETS_CACHE"):
        env.pop(name, None)
    return subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args],
        cwd=repo,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )


def released_rows(hub_folder: Path) -> dict[str, list[dict[str, object]]]:
    rows = {}
    for split in ("train", "validation", "test"):
        shards = sorted((hub_folder / "data").glob(f"{split}-*.parquet"))
        assert shards, f"no {split} shard"
        table = pa.concat_tables(pq.read_table(shard) for shard in shards)
        rows[split] = [{"id": row["id"], "translation": row["translation"]} for row in table.to_pylist()]
    return rows


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    shutil.copy(RAW, repo / "data" / "raw" / "tiny.csv")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["ingest"]["source"] = "data/raw/tiny.csv"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    first = dvc(repo, "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    return repo, first


def test_release_rows_match_the_golden_file(released):
    repo, _ = released
    rows = released_rows(repo / "dist" / "hub")
    if os.environ.get("REGENERATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert rows == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_the_stages_write_exactly_their_outs(released):
    """Everything a run leaves in the project is an output `dvc.yaml` declares, and every declared output is there;
    besides them, only DVC's and the embedded Hub's own state (cache, lock, the .gitignore files DVC keeps)."""
    repo, _ = released
    declared = {Path(path) for stage in dvc_stages().values() for path in stage["outs"] + stage["metrics"]}
    left = (
        subprocess.run(["git", "ls-files", "--others", "-z"], cwd=repo, check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    own_state = (".dvc", ".localhub", ".hf-home")
    source = Path(yaml.safe_load((repo / "params.yaml").read_text())["ingest"]["source"])
    written = {
        Path(name)
        for name in filter(None, left)
        if Path(name) != source
        if Path(name).parts[0] not in own_state
        and "__pycache__" not in Path(name).parts
        and Path(name).name not in ("dvc.lock", ".gitignore")
    }
    assert all(any(path == out or out in path.parents for out in declared) for path in written), sorted(written)
    assert all((repo / out).exists() for out in declared)


def test_nothing_is_lost(released):
    repo, _ = released
    metrics = {
        stage: json.loads((repo / "metrics" / f"{stage}.json").read_text())
        for stage in ("ingest", "validate", "split", "build")
    }
    released_total = sum(metrics["split"]["rows_by_split"].values())
    assert metrics["ingest"]["records"] == (
        released_total
        + metrics["ingest"]["rejected"]
        + metrics["validate"]["rejected"]
        + metrics["split"]["duplicates_merged"]
        + metrics["split"]["cross_split_links"]
    )
    assert metrics["ingest"]["rejected"] >= 1 and metrics["validate"]["rejected"] >= 1
    assert metrics["split"]["duplicates_merged"] >= 1
    rejects = [
        json.loads(line)
        for name in ("ingest", "validate", "duplicates")
        for line in (repo / "data" / "rejects" / f"{name}.jsonl").read_text().splitlines()
    ]
    assert all(isinstance(reject["line"], int) and reject["reasons"] for reject in rejects)


def test_the_release_is_tagged_on_the_embedded_hub(released):
    repo, first = released
    receipt = json.loads((repo / "release" / "receipt.json").read_text())
    assert receipt["outcome"] == "published" and receipt["verified"] is True
    bare = repo / ".localhub" / "datasets" / receipt["repo_id"]
    bare = bare.with_name(bare.name + ".git")
    tag_commit = subprocess.run(
        ["git", "rev-parse", "v1.0.0^{commit}"], cwd=bare, check=True, text=True, capture_output=True
    ).stdout.strip()
    assert tag_commit == receipt["commit"]
    assert "released v1.0.0" in first.stdout


def test_a_second_run_has_nothing_to_do(released):
    repo, _ = released
    again = dvc(repo, "repro")
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout.lower()
    shown = dvc(repo, "metrics", "show")
    assert "metrics/ingest.json" in shown.stdout and "metrics/publish.json" in shown.stdout


def test_a_changed_dataset_needs_a_new_pinned_version(released, tmp_path):
    # The change is made in a copy of the released project, so that the other tests see the first release
    # whatever order they run in.
    repo = Path(shutil.copytree(released[0], tmp_path / "repo", symlinks=True))
    raw = repo / "data" / "raw" / "tiny.csv"
    raw.write_text(
        raw.read_text(encoding="utf-8")
        + (
            "The decoder predicts the next word from the words before it and from the encoder's output.;"
            "Le décodeur prédit le mot suivant à partir des mots précédents et de la sortie de l’encodeur.\r\n"
        ),
        encoding="utf-8",
        newline="",
    )
    refused = dvc(repo, "repro")
    assert refused.returncode != 0
    assert "v1.0.0 is already released" in refused.stderr and "bump release.version" in refused.stderr

    env = {**os.environ, "HF_HOME": str(repo / ".hf-home")}
    env.pop("HF_ENDPOINT", None)
    fetched = subprocess.run(
        [sys.executable, "-m", "pipeline.publish", "fetch-manifest", "1.0.0", "data/previous-manifest.parquet"],
        cwd=repo,
        env=env,
        text=True,
        capture_output=True,
    )
    assert fetched.returncode == 0, fetched.stderr
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["split"]["previous_manifest"] = "data/previous-manifest.parquet"
    params["release"]["version"] = "1.1.0"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    minor = dvc(repo, "repro")
    assert minor.returncode == 0, minor.stdout + minor.stderr
    receipt = json.loads((repo / "release" / "receipt.json").read_text())
    assert receipt["tag"] == "v1.1.0" and receipt["previous_version"] == "1.0.0"
    assert sum(receipt["rows_by_split"].values()) == 31
    changelog = (repo / "dist" / "hub" / "CHANGELOG.md").read_text()
    assert "moved between splits: 0" in changelog and "added: 1" in changelog
    before = {row["id"]: split for split, rows in json.loads(GOLDEN.read_text()).items() for row in rows}
    after = {row["id"]: split for split, rows in released_rows(repo / "dist" / "hub").items() for row in rows}
    assert all(after[row_id] == split for row_id, split in before.items())

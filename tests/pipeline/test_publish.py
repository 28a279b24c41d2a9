"""Tests of pipeline/publish.py against the session's embedded Hub, through the real clients."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline import build, ingest, publish, split, validate
from pipeline.io import StageError
from schema.manifest import MANIFEST_FILE
from tests.helpers import REPO, SEED, make_params, stage_command, stage_paths
from tests.pipeline.faulty_hub import FaultyHub

PUBLISH = stage_paths("publish")
NEW_ROWS = [
    (
        "The encoder maps the input sequence to a sequence of hidden representations.",
        "L’encodeur transforme la séquence d’entrée en une séquence de représentations cachées.",
    ),
    (
        "Attention lets every position of the decoder look at every position of the input.",
        "L’attention permet à chaque position du décodeur de regarder chaque position de l’entrée.",
    ),
]


def release(tmp_path, monkeypatch, hub, repo_id, version, extra_rows=(), endpoint=None, previous=None, private=False):
    """Runs ingest to build on the seed sample (plus `extra_rows`) in `tmp_path`, and returns the params."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_TOKEN", hub.write_token)
    raw = SEED.read_text(encoding="utf-8") + "".join(f"{en};{fr}\r\n" for en, fr in extra_rows)
    (tmp_path / "raw.csv").write_text(raw, encoding="utf-8", newline="")
    params = make_params(
        hub={"endpoint": endpoint or hub.endpoint, "repo_id": repo_id, "private": private},
        release={"version": version, "date": "2026-11-26"},
        split={"previous_manifest": previous},
    )
    for stage in (ingest, validate, split, build):
        stage.run(params, stage_paths(stage.STAGE, tmp_path))
    return params


def tags(repo_id):
    from huggingface_hub import HfApi

    return {tag.name: tag.target_commit for tag in HfApi().list_repo_refs(repo_id, repo_type="dataset").tags}


def commits(repo_id):
    from huggingface_hub import HfApi

    return [commit.commit_id for commit in HfApi().list_repo_commits(repo_id, repo_type="dataset")]


def load(repo_id, revision, cache):
    import datasets

    return datasets.load_dataset(repo_id, revision=revision, cache_dir=str(cache))


def test_first_release_is_one_verified_tagged_commit(tmp_path, monkeypatch, hub, repo_id, capsys):
    params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0")
    summary = publish.run(params, PUBLISH)
    receipt = json.loads((tmp_path / PUBLISH.receipt).read_text())
    assert receipt["outcome"] == "published" and receipt["verified"] is True
    assert receipt["tag"] == "v1.0.0" and receipt["version"] == "1.0.0"
    assert tags(repo_id) == {"v1.0.0": receipt["commit"]}
    assert len(commits(repo_id)) == 2, "the repo's initial commit and the release"
    loaded = load(repo_id, "v1.0.0", tmp_path / "cache")
    assert {split: ds.num_rows for split, ds in loaded.items()} == receipt["rows_by_split"]
    assert sum(receipt["rows_by_split"].values()) == 99, "the seed's 100 rows but the one with no French"
    assert set(receipt["files"]) >= {"README.md", "CITATION.cff", "manifest.parquet"}
    assert "v1.0.0" in summary
    outputs = summary + capsys.readouterr().err + (tmp_path / PUBLISH.receipt).read_text()
    outputs += (tmp_path / PUBLISH.metrics).read_text()
    assert hub.write_token not in outputs


def stored_as(repo_id: str, revision: str) -> dict[str, str]:
    """How the Hub holds each released file: `xet`, `lfs` (a git-lfs object) or `inline` (a git blob)."""
    from huggingface_hub import HfApi

    entries = HfApi().list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
    return {
        e.path: "xet" if getattr(e, "xet_hash", None) else "lfs" if getattr(e, "lfs", None) else "inline"
        for e in entries
        if hasattr(e, "blob_id") and e.path != ".gitattributes"
    }


@pytest.mark.parametrize("xet", [True, False], ids=["xet", "xet-disabled"])
def test_a_release_stored_as_the_hub_stores_it_is_verified(tmp_path, monkeypatch, hub, repo_id, xet):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", not xet)
    params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0")
    publish.run(params, PUBLISH)
    receipt = json.loads((tmp_path / PUBLISH.receipt).read_text())
    assert receipt["verified"] is True and tags(repo_id) == {"v1.0.0": receipt["commit"]}
    held = stored_as(repo_id, "v1.0.0")
    binary = "xet" if xet else "lfs"
    assert {path for path, kind in held.items() if kind == binary} == {
        path for path in receipt["files"] if path.endswith(".parquet")
    }
    assert {held[path] for path in ("README.md", "CITATION.cff")} == {"inline"}
    # Publishing the same version again compares the stored files by content and changes nothing.
    publish.run(params, PUBLISH)
    assert json.loads((tmp_path / PUBLISH.receipt).read_text())["outcome"] == "unchanged"


def test_files_compare_by_content_sha256_when_stored_through_lfs_and_by_blob_id_when_inline():
    built = {
        "a.parquet": publish.LocalFile("a.parquet", "1" * 40, "a" * 64, 10),
        "README.md": publish.LocalFile("README.md", "2" * 40, "b" * 64, 5),
    }
    pointer_blob = "9" * 40
    assert (
        publish.differing(
            {"a.parquet": publish.RemoteFile(pointer_blob, "a" * 64), "README.md": publish.RemoteFile("2" * 40, None)},
            built,
        )
        == []
    )
    assert publish.differing(
        {"a.parquet": publish.RemoteFile(pointer_blob, "c" * 64), "README.md": publish.RemoteFile("3" * 40, None)},
        built,
    ) == ["README.md", "a.parquet"]
    assert publish.differing({"a.parquet": publish.RemoteFile("1" * 40, None)}, built) == ["README.md"]


def test_unchanged_rerun_is_a_no_op(tmp_path, monkeypatch, hub, repo_id):
    params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0")
    publish.run(params, PUBLISH)
    before = commits(repo_id)
    summary = publish.run(params, PUBLISH)
    assert "already released" in summary and "nothing to do" in summary
    assert commits(repo_id) == before
    assert json.loads((tmp_path / PUBLISH.receipt).read_text())["outcome"] == "unchanged"


def test_other_content_under_a_released_version_is_refused(tmp_path, monkeypatch, hub, repo_id):
    publish.run(release(tmp_path / "a", monkeypatch, hub, repo_id, "1.0.0"), PUBLISH)
    before = commits(repo_id)
    changed = release(tmp_path / "b", monkeypatch, hub, repo_id, "1.0.0", extra_rows=NEW_ROWS)
    with pytest.raises(StageError, match=r"v1\.0\.0 is already released .* bump release.version"):
        publish.run(changed, PUBLISH)
    assert commits(repo_id) == before


def test_minor_release_adds_rows_moves_none_and_both_tags_keep_their_content(tmp_path, monkeypatch, hub, repo_id):
    first = release(tmp_path / "a", monkeypatch, hub, repo_id, "1.0.0")
    publish.run(first, PUBLISH)
    pinned = tmp_path / "previous-manifest.parquet"
    publish.fetch_manifest(first, "1.0.0", pinned)

    too_small = release(tmp_path / "b", monkeypatch, hub, repo_id, "1.0.1", extra_rows=NEW_ROWS, previous=str(pinned))
    with pytest.raises(StageError, match="patch bump, but the change needs a minor one"):
        publish.run(too_small, PUBLISH)
    assert set(tags(repo_id)) == {"v1.0.0"}

    second = release(tmp_path / "c", monkeypatch, hub, repo_id, "1.1.0", extra_rows=NEW_ROWS, previous=str(pinned))
    publish.run(second, PUBLISH)
    assert set(tags(repo_id)) == {"v1.0.0", "v1.1.0"}
    old, new = load(repo_id, "v1.0.0", tmp_path / "c1"), load(repo_id, "v1.1.0", tmp_path / "c2")
    assert sum(ds.num_rows for ds in new.values()) == sum(ds.num_rows for ds in old.values()) + 2
    old_splits = {row["id"]: name for name, ds in old.items() for row in ds}
    new_splits = {row["id"]: name for name, ds in new.items() for row in ds}
    assert all(new_splits[row_id] == name for row_id, name in old_splits.items()), "no released row moved"
    changelog = (tmp_path / "c" / "dist" / "hub" / "CHANGELOG.md").read_text()
    assert re.search(r"moved[^\n]*\b0\b|\b0\b[^\n]*moved", changelog, re.IGNORECASE), changelog
    diff = publish.changelog(second, "1.0.0", "1.1.0")
    assert re.search(r"- added: 2\b", diff) and "- moved between splits: 0" in diff and "- removed: 0" in diff


def test_without_pinning_a_second_release_is_refused(tmp_path, monkeypatch, hub, repo_id):
    publish.run(release(tmp_path / "a", monkeypatch, hub, repo_id, "1.0.0"), PUBLISH)
    with pytest.raises(StageError, match="split.previous_manifest is null"):
        publish.run(release(tmp_path / "b", monkeypatch, hub, repo_id, "1.1.0", extra_rows=NEW_ROWS), PUBLISH)


def publish_in_own_process(tmp_path, params, token):
    """Runs the stage as DVC does, so the clients are imported with HF_ENDPOINT pointing at `params.hub.endpoint`."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json", by_alias=True)))
    env = {**os.environ, "HF_TOKEN": token, "PYTHONPATH": str(REPO)}
    env.pop("HF_ENDPOINT")
    return subprocess.run(
        [sys.executable, "-m", "pipeline.publish", *stage_command("publish")],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )


def test_splits_pinned_to_another_manifest_are_refused(tmp_path, monkeypatch, hub, repo_id):
    publish.run(release(tmp_path / "a", monkeypatch, hub, repo_id, "1.0.0"), PUBLISH)
    # A manifest that was built but never released.
    release(tmp_path / "b", monkeypatch, hub, repo_id, "2.0.0", extra_rows=NEW_ROWS)
    unreleased = tmp_path / "b" / "dist" / "hub" / "manifest.parquet"
    pinned_elsewhere = release(
        tmp_path / "c", monkeypatch, hub, repo_id, "1.1.0", extra_rows=NEW_ROWS[:1], previous=str(unreleased)
    )
    with pytest.raises(StageError, match=r"is not the manifest of v1\.0\.0"):
        publish.run(pinned_elsewhere, PUBLISH)
    assert set(tags(repo_id)) == {"v1.0.0"}


def test_transient_server_errors_are_retried(tmp_path, monkeypatch, hub, repo_id):
    with FaultyHub(hub.endpoint, fail=r"^POST /api/datasets/.*/(commit|tag)/", times=3) as faulty:
        params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0", endpoint=faulty.endpoint)
        result = publish_in_own_process(tmp_path, params, hub.write_token)
    assert result.returncode == 0, result.stderr
    assert len(faulty.failed) == 3
    assert result.stderr.count("retrying") == 3
    assert set(tags(repo_id)) == {"v1.0.0"}
    assert len(commits(repo_id)) == 2, "a retried commit is not made twice"
    assert hub.write_token not in result.stdout + result.stderr + (tmp_path / PUBLISH.receipt).read_text()


def test_a_read_only_token_fails_fast_with_the_cause(tmp_path, monkeypatch, hub, repo_id):
    first = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0")
    publish.run(first, PUBLISH)
    pinned = tmp_path / "previous-manifest.parquet"
    publish.fetch_manifest(first, "1.0.0", pinned)
    params = release(tmp_path, monkeypatch, hub, repo_id, "1.1.0", extra_rows=NEW_ROWS, previous=str(pinned))
    monkeypatch.setenv("HF_TOKEN", hub.read_token)
    with pytest.raises(StageError) as failure:
        publish.run(params, PUBLISH)
    assert "403" in str(failure.value) or "Forbidden" in str(failure.value)
    assert hub.read_token not in str(failure.value)
    assert set(tags(repo_id)) == {"v1.0.0"}


def test_a_failed_verification_leaves_no_tag(tmp_path, monkeypatch, hub, repo_id):
    with FaultyHub(hub.endpoint, lose_file="CITATION.cff") as lossy:
        params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0", endpoint=lossy.endpoint)
        result = publish_in_own_process(tmp_path, params, hub.write_token)
    assert result.returncode == 1
    assert "verification of" in result.stderr and "files differ from dist/hub: CITATION.cff" in result.stderr
    assert "Traceback" not in result.stderr
    assert tags(repo_id) == {}
    assert not (tmp_path / PUBLISH.receipt).exists()


@pytest.mark.parametrize("altered", ["README.md", "CITATION.cff", "CHANGELOG.md", MANIFEST_FILE])
def test_a_file_altered_in_the_commit_is_named_and_the_release_not_tagged(tmp_path, monkeypatch, hub, repo_id, altered):
    with FaultyHub(hub.endpoint, alter_file=altered) as altering:
        params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0", endpoint=altering.endpoint)
        result = publish_in_own_process(tmp_path, params, hub.write_token)
    assert altering.altered == [altered]
    assert len(commits(repo_id)) == 2, "the altered release was committed, under the built file names"
    assert result.returncode == 1
    named = rf"verification of \w+ failed: files differ from dist/hub: {re.escape(altered)}$"
    assert re.search(named, result.stderr, re.MULTILINE), result.stderr
    assert "Traceback" not in result.stderr
    assert tags(repo_id) == {}
    assert not (tmp_path / PUBLISH.receipt).exists()


def test_a_release_that_loads_with_other_features_is_refused_and_not_tagged(tmp_path, monkeypatch, hub, repo_id):
    params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0")
    card = tmp_path / "dist" / "hub" / "README.md"
    text, declared = card.read_text(encoding="utf-8"), "- name: line\n    dtype: int64\n"
    assert text.count(declared) == 1
    card.write_text(text.replace(declared, declared.replace("int64", "int32")), encoding="utf-8")
    with pytest.raises(StageError, match=r"verification of \w+ failed: split \w+ has features .*int32.* instead of"):
        publish.run(params, PUBLISH)
    assert tags(repo_id) == {}


def test_an_interrupted_publish_finishes_without_a_second_commit(tmp_path, monkeypatch, hub, repo_id):
    params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0")
    folder = tmp_path / "dist" / "hub"
    # The run that stopped between its commit and its tag.
    interrupted = publish.Release(publish.Target(hub.endpoint, "test hub", hub.write_token), params)
    interrupted.api.create_repo(repo_id, repo_type="dataset")
    committed = interrupted.commit(folder, publish.local_files(folder), interrupted.head())
    before = commits(repo_id)
    publish.run(params, PUBLISH)
    assert commits(repo_id) == before
    assert tags(repo_id) == {"v1.0.0": committed}


def test_a_private_release_is_verified_with_the_token_and_hidden_without(tmp_path, monkeypatch, hub, repo_id):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    publish.run(release(tmp_path, monkeypatch, hub, repo_id, "1.0.0", private=True), PUBLISH)
    assert json.loads((tmp_path / PUBLISH.receipt).read_text())["verified"] is True
    assert HfApi(token=hub.read_token).dataset_info(repo_id, revision="v1.0.0").private is True
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).dataset_info(repo_id, revision="v1.0.0")


def test_fetching_an_unreleased_version_says_so(tmp_path, monkeypatch, hub, repo_id):
    params = release(tmp_path, monkeypatch, hub, repo_id, "1.0.0")
    publish.run(params, PUBLISH)
    destination = tmp_path / "previous-manifest.parquet"
    with pytest.raises(StageError, match=r"fetching the manifest of v9\.9\.9 on http://127\.0\.0\.1:\d+ failed"):
        publish.fetch_manifest(params, "9.9.9", destination)
    assert not destination.exists()
    publish.fetch_manifest(params, "v1.0.0", destination)
    assert pq.read_table(destination).equals(pq.read_table(tmp_path / "dist" / "hub" / "manifest.parquet"))

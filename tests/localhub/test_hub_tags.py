"""Tags and refs: immutable release tags, conflicts, deletion, and snapshots pinned to a tag."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

from tests.localhub.hubdata import head


def test_create_tag_conflict_exist_ok_refs_and_delete(api, dataset_repo):
    sha = head(api, dataset_repo)
    api.create_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")
    with pytest.raises(HfHubHTTPError, match="already exists") as info:
        api.create_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")
    assert info.value.response.status_code == 409
    api.create_tag(dataset_repo, repo_type="dataset", tag="v1.0.0", exist_ok=True)
    refs = api.list_repo_refs(dataset_repo, repo_type="dataset")
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1.0.0", "refs/tags/v1.0.0", sha)]
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", sha)]
    assert refs.converts == []
    api.delete_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")
    assert api.list_repo_refs(dataset_repo, repo_type="dataset").tags == []
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")


def test_existing_tag_is_never_moved(api, dataset_repo):
    first = head(api, dataset_repo)
    api.create_tag(dataset_repo, repo_type="dataset", tag="v1")
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=dataset_repo, repo_type="dataset")
    with pytest.raises(HfHubHTTPError):
        api.create_tag(dataset_repo, repo_type="dataset", tag="v1", revision="main")
    assert head(api, dataset_repo, "v1") == first


def test_tag_an_older_commit_by_short_sha_with_a_message(api, dataset_repo):
    first = head(api, dataset_repo)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=dataset_repo, repo_type="dataset")
    api.create_tag(dataset_repo, repo_type="dataset", tag="v0.9.0", revision=first[:8], tag_message="first cut")
    tags = api.list_repo_refs(dataset_repo, repo_type="dataset").tags
    assert [(t.name, t.target_commit) for t in tags] == [("v0.9.0", first)]
    assert head(api, dataset_repo, "v0.9.0") == first


def test_tag_of_unknown_revision_and_invalid_name(api, dataset_repo):
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(dataset_repo, repo_type="dataset", tag="v1", revision="nope")
    with pytest.raises(HfHubHTTPError) as info:
        api.create_tag(dataset_repo, repo_type="dataset", tag="bad..name")
    assert info.value.response.status_code == 400


def test_branches_can_be_created_listed_and_deleted(api, dataset_repo):
    api.create_branch(dataset_repo, repo_type="dataset", branch="staging")
    with pytest.raises(HfHubHTTPError) as info:
        api.create_branch(dataset_repo, repo_type="dataset", branch="staging")
    assert info.value.response.status_code == 409
    api.upload_file(
        path_or_fileobj=b"s", path_in_repo="s.txt", repo_id=dataset_repo, repo_type="dataset", revision="staging"
    )
    assert "s.txt" not in api.list_repo_files(dataset_repo, repo_type="dataset")
    assert "s.txt" in api.list_repo_files(dataset_repo, repo_type="dataset", revision="staging")
    api.delete_branch(dataset_repo, repo_type="dataset", branch="staging")
    assert [b.name for b in api.list_repo_refs(dataset_repo, repo_type="dataset").branches] == ["main"]


def test_snapshot_download_at_a_tag_after_main_moved_on(api, dataset_repo):
    tagged = head(api, dataset_repo)
    api.create_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")
    api.upload_file(
        path_or_fileobj=b"---\nlicense: mit\n---\n# changed\n",
        path_in_repo="README.md",
        repo_id=dataset_repo,
        repo_type="dataset",
    )
    folder = Path(snapshot_download(dataset_repo, repo_type="dataset", revision="v1.0.0"))
    assert folder.name == tagged
    assert (folder / "README.md").read_text().startswith("---\nlicense: cc-by-4.0")
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert "data/train-00000-of-00001.parquet" in files
    latest = Path(snapshot_download(dataset_repo, repo_type="dataset"))
    assert (latest / "README.md").read_text() == "---\nlicense: mit\n---\n# changed\n"
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(dataset_repo, repo_type="dataset", revision="v404")

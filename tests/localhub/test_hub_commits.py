"""Commits: uploads, deletions, atomicity, the parent_commit guard, listings and card validation on commit."""

from __future__ import annotations

import threading

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import BadRequestError, EntryNotFoundError, HfHubHTTPError, RevisionNotFoundError

from tests.localhub.hubdata import CARD, head, write_dataset_folder

DATA_FILES = {f"data/{s}-00000-of-00001.parquet" for s in ("train", "validation", "test")}


def test_upload_folder_then_list_files_tree_and_paths_info(api, dataset_repo):
    files = api.list_repo_files(dataset_repo, repo_type="dataset")
    assert set(files) == {".gitattributes", "README.md"} | DATA_FILES
    tree = {e.path: e for e in api.list_repo_tree(dataset_repo, repo_type="dataset", recursive=True)}
    assert tree["data"].tree_id and len(tree["data"].tree_id) == 40
    assert tree["README.md"].size == len(CARD.encode())
    assert tree["README.md"].blob_id == api.get_paths_info(dataset_repo, ["README.md"], repo_type="dataset")[0].blob_id
    top = [e.path for e in api.list_repo_tree(dataset_repo, repo_type="dataset")]
    assert sorted(top) == [".gitattributes", "README.md", "data"]
    in_data = [e.path for e in api.list_repo_tree(dataset_repo, path_in_repo="data", repo_type="dataset")]
    assert set(in_data) == DATA_FILES
    infos = api.get_paths_info(dataset_repo, ["README.md", "data", "missing.txt"], repo_type="dataset", expand=True)
    assert [(i.path, type(i).__name__) for i in infos] == [("README.md", "RepoFile"), ("data", "RepoFolder")]
    assert infos[0].last_commit.title == "Add tiny pairs"
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(dataset_repo, path_in_repo="nope", repo_type="dataset"))


def test_file_exists_true_false_and_unknown_revision(api, dataset_repo):
    assert api.file_exists(dataset_repo, "README.md", repo_type="dataset") is True
    assert api.file_exists(dataset_repo, "data/train-00000-of-00001.parquet", repo_type="dataset") is True
    assert api.file_exists(dataset_repo, "nope.txt", repo_type="dataset") is False
    assert api.file_exists(dataset_repo, "README.md", repo_type="dataset", revision="v404") is False


def test_reuploading_the_same_folder_makes_no_commit(api, dataset_repo, tmp_path):
    before = head(api, dataset_repo)
    info = api.upload_folder(
        folder_path=write_dataset_folder(tmp_path / "again"),
        repo_id=dataset_repo,
        repo_type="dataset",
        commit_message="same again",
    )
    assert info.oid == before
    assert head(api, dataset_repo) == before
    assert len(api.list_repo_commits(dataset_repo, repo_type="dataset")) == 2


def test_upload_folder_delete_patterns_replace_old_shards(api, dataset_repo, tmp_path):
    folder = write_dataset_folder(tmp_path / "v2")
    (folder / "data" / "train-00000-of-00001.parquet").rename(folder / "data" / "train-00000-of-00002.parquet")
    api.upload_folder(
        folder_path=folder,
        repo_id=dataset_repo,
        repo_type="dataset",
        commit_message="reshard",
        delete_patterns=["data/*"],
    )
    files = set(api.list_repo_files(dataset_repo, repo_type="dataset"))
    assert "data/train-00000-of-00002.parquet" in files and "data/train-00000-of-00001.parquet" not in files
    assert ".gitattributes" in files


def test_delete_file_and_folder(api, dataset_repo):
    api.create_commit(
        dataset_repo,
        repo_type="dataset",
        commit_message="drop test split and data",
        operations=[CommitOperationDelete("README.md"), CommitOperationDelete("data/")],
    )
    assert api.list_repo_files(dataset_repo, repo_type="dataset") == [".gitattributes"]


def test_deleting_a_missing_file_fails_and_leaves_the_branch_untouched(api, dataset_repo):
    before = head(api, dataset_repo)
    with pytest.raises(EntryNotFoundError):
        api.create_commit(
            dataset_repo,
            repo_type="dataset",
            commit_message="half a commit",
            operations=[
                CommitOperationAdd("new.txt", b"new"),
                CommitOperationDelete("missing.txt"),
            ],
        )
    assert head(api, dataset_repo) == before
    assert "new.txt" not in api.list_repo_files(dataset_repo, repo_type="dataset")


def test_stale_parent_commit_is_refused(api, dataset_repo):
    parent = head(api, dataset_repo)
    api.upload_file(path_or_fileobj=b"1", path_in_repo="one.txt", repo_id=dataset_repo, repo_type="dataset")
    moved = head(api, dataset_repo)
    with pytest.raises(HfHubHTTPError) as info:
        api.create_commit(
            dataset_repo,
            repo_type="dataset",
            commit_message="based on old head",
            operations=[CommitOperationAdd("two.txt", b"2")],
            parent_commit=parent,
        )
    assert info.value.response.status_code in (409, 412)
    assert head(api, dataset_repo) == moved
    done = api.create_commit(
        dataset_repo,
        repo_type="dataset",
        commit_message="based on head",
        operations=[CommitOperationAdd("two.txt", b"2")],
        parent_commit=moved[:7],
    )
    assert head(api, dataset_repo) == done.oid


def test_commit_to_unknown_branch_is_revision_not_found(api, dataset_repo):
    with pytest.raises(RevisionNotFoundError):
        api.create_commit(
            dataset_repo,
            repo_type="dataset",
            commit_message="x",
            revision="nope",
            operations=[CommitOperationDelete("README.md")],
        )


def test_file_folder_conflict_is_a_bad_request(api, dataset_repo):
    before = head(api, dataset_repo)
    with pytest.raises(BadRequestError):
        api.create_commit(
            dataset_repo,
            repo_type="dataset",
            commit_message="conflict",
            operations=[CommitOperationAdd("README.md/inner.txt", b"x")],
        )
    assert head(api, dataset_repo) == before


def test_operations_apply_in_order(api, dataset_repo):
    api.create_commit(
        dataset_repo,
        repo_type="dataset",
        commit_message="replace data",
        operations=[
            CommitOperationDelete("data/"),
            CommitOperationAdd("data/only.txt", b"only"),
        ],
    )
    files = api.list_repo_files(dataset_repo, repo_type="dataset")
    assert [f for f in files if f.startswith("data/")] == ["data/only.txt"]


def test_list_repo_commits_newest_first_with_titles_authors_and_description(hub, api, dataset_repo):
    api.create_commit(
        dataset_repo,
        repo_type="dataset",
        commit_message="Second",
        commit_description="Why: test",
        operations=[CommitOperationAdd("b.txt", b"b")],
    )
    commits = api.list_repo_commits(dataset_repo, repo_type="dataset")
    assert [c.title for c in commits] == ["Second", "Add tiny pairs", "initial commit"]
    assert commits[0].message == "Why: test"
    assert commits[0].authors == [hub.user] and commits[-1].authors == ["system"]
    assert commits[0].created_at > commits[-1].created_at or commits[0].created_at == commits[-1].created_at
    assert commits[0].commit_id == head(api, dataset_repo)


def test_commit_listing_follows_absolute_pagination_links(api, repo_id):
    api.create_repo(repo_id, repo_type="dataset")
    for i in range(55):
        api.create_commit(
            repo_id,
            repo_type="dataset",
            commit_message=f"c{i}",
            operations=[CommitOperationAdd("n.txt", str(i).encode())],
        )
    titles = [c.title for c in api.list_repo_commits(repo_id, repo_type="dataset")]
    assert titles == [f"c{i}" for i in reversed(range(55))] + ["initial commit"]


def test_invalid_readme_yaml_is_refused_before_upload(api, dataset_repo):
    before = head(api, dataset_repo)
    for bad in (
        "---\nlicense: [unclosed\n---\n",
        "---\nlicense: not-a-licence\n---\n",
        "---\ntask_categories:\n- make-coffee\n---\n",
        "---\nconfigs: {default: data/*}\n---\n",
    ):
        with pytest.raises(ValueError, match="Invalid metadata in README.md"):
            api.create_commit(
                dataset_repo,
                repo_type="dataset",
                commit_message="bad card",
                operations=[CommitOperationAdd("README.md", bad.encode())],
            )
    assert head(api, dataset_repo) == before


def test_readers_see_the_old_or_new_commit_while_a_commit_runs(api, dataset_repo):
    from huggingface_hub import HfFileSystem

    old = head(api, dataset_repo)
    big = b"n" * (12 * 1024 * 1024)
    seen, failures = set(), []

    def read_while_committing() -> None:
        fs = HfFileSystem(token=False)
        while not done.is_set():
            try:
                sha = api.dataset_info(dataset_repo).sha
                fs.invalidate_cache()
                seen.add((sha, fs.exists(f"datasets/{dataset_repo}@{sha}/big.bin")))
            except Exception as exc:  # collected and asserted on below
                failures.append(exc)

    done = threading.Event()
    reader = threading.Thread(target=read_while_committing)
    reader.start()
    try:
        new = api.create_commit(
            dataset_repo, repo_type="dataset", commit_message="big", operations=[CommitOperationAdd("big.bin", big)]
        ).oid
    finally:
        done.set()
        reader.join()
    assert failures == []
    assert seen <= {(old, False), (new, True)} and (old, False) in seen

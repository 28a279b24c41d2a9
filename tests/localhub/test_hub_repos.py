"""Repositories: creation, visibility, info at any revision, persistence on disk as real git repositories."""

from __future__ import annotations

import subprocess

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from localhub import LocalHub, Token


def test_create_repo_public_then_conflict_then_exist_ok(hub, api, repo_id):
    url = api.create_repo(repo_id, repo_type="dataset")
    assert url == f"{hub.endpoint}/datasets/{repo_id}"
    assert url.repo_id == repo_id and url.repo_type == "dataset"
    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo(repo_id, repo_type="dataset")
    assert info.value.response.status_code == 409
    assert api.create_repo(repo_id, repo_type="dataset", exist_ok=True).repo_id == repo_id
    assert api.dataset_info(repo_id).private is False


def test_create_private_repo(api, repo_id):
    api.create_repo(repo_id, repo_type="dataset", private=True)
    assert api.dataset_info(repo_id).private is True


def test_create_repo_without_namespace_uses_the_token_user(hub, api, repo_id):
    name = repo_id.split("/")[1]
    url = api.create_repo(name, repo_type="dataset")
    assert url.repo_id == f"{hub.user}/{name}"


def test_create_repo_in_another_namespace_is_forbidden(api, repo_id):
    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo(f"someone-else/{repo_id.split('/')[1]}", repo_type="dataset")
    assert info.value.response.status_code == 403
    assert "someone-else" in str(info.value)


def test_list_datasets_by_author_and_search_hides_private_repos_from_anonymous_callers(hub, api, repo_id):
    public, private = f"{repo_id}-listed-public", f"{repo_id}-listed-private"
    api.create_repo(public, repo_type="dataset")
    api.create_repo(private, repo_type="dataset", private=True)
    term = repo_id.split("/")[1]
    mine = {d.id: d.private for d in api.list_datasets(author=hub.user, search=term)}
    assert mine == {public: False, private: True}
    assert [d.id for d in HfApi(token=False).list_datasets(search=term)] == [public]
    assert list(api.list_datasets(author="nobody-here", search=term)) == []
    assert len(list(api.list_datasets(search=term, limit=1))) == 1


def test_visibility_changes_through_repo_settings(api, repo_id):
    api.create_repo(repo_id, repo_type="dataset")
    api.update_repo_settings(repo_id, repo_type="dataset", private=True)
    assert api.dataset_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).dataset_info(repo_id)
    api.update_repo_settings(repo_id, repo_type="dataset", visibility="public")
    assert HfApi(token=False).dataset_info(repo_id).private is False
    with pytest.raises(HfHubHTTPError) as info:
        HfApi(token=False).update_repo_settings(repo_id, repo_type="dataset", private=True)
    assert info.value.response.status_code == 401


def test_new_repo_has_an_initial_commit_with_gitattributes(api, repo_id):
    api.create_repo(repo_id, repo_type="dataset")
    commits = api.list_repo_commits(repo_id, repo_type="dataset")
    assert [c.title for c in commits] == ["initial commit"]
    assert api.list_repo_files(repo_id, repo_type="dataset") == [".gitattributes"]
    info = api.dataset_info(repo_id)
    assert info.sha == commits[0].commit_id
    assert info.created_at is not None and info.last_modified is not None


def test_dataset_info_at_branch_tag_full_and_short_sha(api, dataset_repo):
    sha = api.dataset_info(dataset_repo).sha
    assert len(sha) == 40 and sha == sha.lower()
    api.create_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")
    api.upload_file(path_or_fileobj=b"later", path_in_repo="later.txt", repo_id=dataset_repo, repo_type="dataset")
    for revision in ("v1.0.0", sha, sha[:7], "refs/tags/v1.0.0"):
        info = api.dataset_info(dataset_repo, revision=revision)
        assert info.sha == sha
        assert "later.txt" not in {s.rfilename for s in info.siblings}
    moved = api.dataset_info(dataset_repo, revision="main")
    assert moved.sha != sha and "later.txt" in {s.rfilename for s in moved.siblings}


def test_dataset_info_carries_card_data_and_file_metadata(api, dataset_repo):
    info = api.dataset_info(dataset_repo, files_metadata=True)
    assert info.card_data.license == "cc-by-4.0"
    assert info.card_data.configs[0]["config_name"] == "default"
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes["README.md"] > 0 and all(s.blob_id and len(s.blob_id) == 40 for s in info.siblings)


def test_unknown_revision_and_unknown_repo(api, dataset_repo, hub):
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(dataset_repo, revision="v9.9.9")
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(dataset_repo, revision="main~1")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(f"{hub.user}/no-such-repo")
    assert api.revision_exists(dataset_repo, "v9.9.9", repo_type="dataset") is False
    assert api.repo_exists(f"{hub.user}/no-such-repo", repo_type="dataset") is False


def test_delete_repo(api, repo_id):
    api.create_repo(repo_id, repo_type="dataset")
    api.delete_repo(repo_id, repo_type="dataset")
    assert api.repo_exists(repo_id, repo_type="dataset") is False
    api.delete_repo(repo_id, repo_type="dataset", missing_ok=True)


def test_model_repos_are_supported(api, repo_id):
    url = api.create_repo(repo_id)
    assert url.repo_type == "model"
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id)
    assert "config.json" in api.list_repo_files(repo_id)
    assert api.model_info(repo_id).sha == api.list_repo_commits(repo_id)[0].commit_id


def test_repos_are_bare_git_repositories_on_disk(hub, api, dataset_repo):
    git_dir = hub.data_dir / "datasets" / f"{dataset_repo}.git"
    sha = api.dataset_info(dataset_repo).sha
    api.create_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")
    git = ["git", "--git-dir", str(git_dir)]
    assert subprocess.check_output([*git, "rev-parse", "main"], text=True).strip() == sha
    assert subprocess.check_output([*git, "rev-parse", "v1.0.0^{commit}"], text=True).strip() == sha
    log = subprocess.check_output([*git, "log", "--format=%an|%s", "main"], text=True).splitlines()
    assert log == [f"{hub.user}|Add tiny pairs", "system|initial commit"]
    readme = subprocess.check_output([*git, "show", "main:README.md"], text=True)
    assert readme.startswith("---\nlicense: cc-by-4.0")
    subprocess.run([*git, "fsck", "--no-progress"], check=True, capture_output=True)


def test_a_second_server_on_the_same_data_dir_sees_repos_tags_and_visibility(tmp_path):
    tokens = {"w-token": Token(user="alice", write=True)}
    with LocalHub(data_dir=tmp_path / "hub", tokens=tokens) as first:
        api = HfApi(endpoint=first.endpoint, token="w-token")
        api.create_repo("alice/kept", repo_type="dataset", private=True)
        api.upload_file(path_or_fileobj=b"rows", path_in_repo="rows.txt", repo_id="alice/kept", repo_type="dataset")
        api.create_tag("alice/kept", repo_type="dataset", tag="v1")
        sha = api.dataset_info("alice/kept").sha
    with LocalHub(data_dir=tmp_path / "hub", tokens=tokens) as second:
        assert second.endpoint != "" and second.data_dir == tmp_path / "hub"
        api = HfApi(endpoint=second.endpoint, token="w-token")
        info = api.dataset_info("alice/kept", revision="v1")
        assert info.sha == sha and info.private is True
        with pytest.raises(RepositoryNotFoundError):
            HfApi(endpoint=second.endpoint, token=False).dataset_info("alice/kept")


def test_server_refuses_to_bind_outside_loopback(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        LocalHub(data_dir=tmp_path, host="0.0.0.0")


def test_stop_closes_the_port(tmp_path):
    hub = LocalHub(data_dir=tmp_path).start()
    client = HfApi(endpoint=hub.endpoint, token=False)
    with pytest.raises(RepositoryNotFoundError):
        client.dataset_info("nobody/nothing")
    hub.stop()
    with pytest.raises(Exception) as info:
        client.dataset_info("nobody/nothing")
    assert not isinstance(info.value, RepositoryNotFoundError)

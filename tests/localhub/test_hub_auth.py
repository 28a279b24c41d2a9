"""Authentication and authorisation: whoami, refused writes, private repos, and tokens kept out of the logs."""

from __future__ import annotations

import json
import logging

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from tests.localhub.hubdata import head


def test_whoami_names_the_token_user(hub):
    assert HfApi(token=hub.write_token).whoami()["name"] == hub.user
    assert HfApi(token=hub.read_token).whoami()["name"] == "reader"


def test_whoami_with_an_unknown_token_is_401_invalid_user_token(hub):
    with pytest.raises(HfHubHTTPError, match="Invalid user token") as info:
        HfApi(token="hf_not_a_known_token").whoami()
    assert info.value.response.status_code == 401


@pytest.mark.parametrize("token_kind, status", [("anonymous", 401), ("read", 403)])
def test_create_repo_needs_a_write_token(hub, repo_id, token_kind, status):
    token = False if token_kind == "anonymous" else hub.read_token
    with pytest.raises(HfHubHTTPError) as info:
        HfApi(token=token).create_repo(repo_id, repo_type="dataset")
    assert info.value.response.status_code == status
    assert not HfApi(token=hub.write_token).repo_exists(repo_id, repo_type="dataset")


@pytest.mark.parametrize("token_kind, status", [("anonymous", 401), ("read", 403)])
def test_commit_and_tag_need_a_write_token(hub, api, dataset_repo, token_kind, status):
    client = HfApi(token=False if token_kind == "anonymous" else hub.read_token)
    before = api.dataset_info(dataset_repo).sha
    with pytest.raises(HfHubHTTPError) as info:
        client.create_commit(
            dataset_repo, repo_type="dataset", commit_message="sneaky", operations=[CommitOperationAdd("x.txt", b"x")]
        )
    assert info.value.response.status_code == status
    with pytest.raises(HfHubHTTPError) as info:
        client.create_tag(dataset_repo, repo_type="dataset", tag="v0.0.1")
    assert info.value.response.status_code == status
    with pytest.raises(HfHubHTTPError) as info:
        client.delete_repo(dataset_repo, repo_type="dataset")
    assert info.value.response.status_code == status
    assert api.dataset_info(dataset_repo).sha == before
    assert api.list_repo_refs(dataset_repo, repo_type="dataset").tags == []


# A commit that only deletes sends no preupload, whose own write check would otherwise refuse it first.
@pytest.mark.parametrize("token_kind, status", [("anonymous", 401), ("read", 403)])
def test_a_delete_only_commit_needs_a_write_token(hub, api, dataset_repo, token_kind, status):
    client = HfApi(token=False if token_kind == "anonymous" else hub.read_token)
    before = head(api, dataset_repo)
    with pytest.raises(HfHubHTTPError) as info:
        client.create_commit(
            dataset_repo, repo_type="dataset", commit_message="sneaky", operations=[CommitOperationDelete("README.md")]
        )
    assert info.value.response.status_code == status
    assert head(api, dataset_repo) == before
    assert "README.md" in api.list_repo_files(dataset_repo, repo_type="dataset")


@pytest.mark.parametrize("token_kind, status", [("anonymous", 401), ("read", 403)])
def test_a_raw_commit_needs_a_write_token(hub, api, dataset_repo, token_kind, status):
    lines = [
        {"key": "header", "value": {"summary": "sneaky", "description": ""}},
        {"key": "file", "value": {"path": "x.txt", "content": "eA==", "encoding": "base64"}},
        {"key": "deletedFile", "value": {"path": "README.md"}},
    ]
    credentials = {} if token_kind == "anonymous" else {"Authorization": f"Bearer {hub.read_token}"}
    before = head(api, dataset_repo)
    response = httpx2.post(
        f"{hub.endpoint}/api/datasets/{dataset_repo}/commit/main",
        content="".join(json.dumps(line) + "\n" for line in lines).encode(),
        headers={**credentials, "Content-Type": "application/x-ndjson"},
        timeout=10,
    )
    assert response.status_code == status, response.text
    assert head(api, dataset_repo) == before
    files = api.list_repo_files(dataset_repo, repo_type="dataset")
    assert "README.md" in files and "x.txt" not in files


def test_read_only_message_reaches_the_user(hub, dataset_repo):
    with pytest.raises(HfHubHTTPError, match="read access only"):
        HfApi(token=hub.read_token).create_tag(dataset_repo, repo_type="dataset", tag="v1")


def test_public_repo_reads_are_anonymous(dataset_repo):
    anonymous = HfApi(token=False)
    assert "README.md" in anonymous.list_repo_files(dataset_repo, repo_type="dataset")
    assert anonymous.dataset_info(dataset_repo).private is False


def test_private_repo_is_invisible_without_a_token(hub, api, repo_id):
    api.create_repo(repo_id, repo_type="dataset", private=True)
    api.upload_file(path_or_fileobj=b"secret rows", path_in_repo="rows.txt", repo_id=repo_id, repo_type="dataset")
    anonymous = HfApi(token=False)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.dataset_info(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.list_repo_files(repo_id, repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        anonymous.list_repo_refs(repo_id, repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "rows.txt", repo_type="dataset", token=False)
    assert anonymous.repo_exists(repo_id, repo_type="dataset") is False
    assert HfApi(token=hub.read_token).dataset_info(repo_id).private is True


def test_unknown_token_is_refused_even_for_public_reads(dataset_repo):
    with pytest.raises(HfHubHTTPError) as info:
        HfApi(token="hf_wrong").list_repo_files(dataset_repo, repo_type="dataset")
    assert info.value.response.status_code == 401


def test_create_repo_exist_ok_with_read_token_succeeds_only_on_a_readable_repo(hub, dataset_repo, repo_id):
    reader = HfApi(token=hub.read_token)
    assert reader.create_repo(dataset_repo, repo_type="dataset", exist_ok=True).repo_id == dataset_repo
    with pytest.raises(HfHubHTTPError):
        reader.create_repo(f"{repo_id}-missing", repo_type="dataset", exist_ok=True)


def test_tokens_never_reach_the_access_log(hub, api, dataset_repo, caplog):
    caplog.set_level(logging.INFO, logger="localhub")
    api.whoami()
    api.create_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")
    HfApi(token=hub.read_token).list_repo_refs(dataset_repo, repo_type="dataset")
    with pytest.raises(HfHubHTTPError):
        HfApi(token="hf_bad_token_value").whoami()
    assert "/api/whoami-v2" in caplog.text
    assert f"/api/datasets/{dataset_repo}/tag/main" in caplog.text
    for secret in (hub.write_token, hub.read_token, "hf_bad_token_value", "Bearer"):
        assert secret not in caplog.text

"""Fixtures for the localhub conformance suite: clients with the session tokens and small dataset folders."""

from __future__ import annotations

import pytest

from tests.localhub.hubdata import write_dataset_folder

# No huggingface_hub import at module level: pytest loads this file before the root conftest's
# pytest_configure has pointed HF_ENDPOINT at the session's LocalHub.


@pytest.fixture
def api(hub):
    from huggingface_hub import HfApi

    return HfApi(token=hub.write_token)


@pytest.fixture
def dataset_repo(api, repo_id, tmp_path) -> str:
    """A public dataset repo holding the tiny dataset folder in one commit on `main`."""
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(
        folder_path=write_dataset_folder(tmp_path / "release"),
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Add tiny pairs",
    )
    return repo_id

"""The Croissant answer of `/api/datasets/{id}/croissant`, read by `mlcroissant` as a consumer reads it."""

from __future__ import annotations

import hashlib
import os

import httpx2
import pytest

from tests.localhub.hubdata import split_table, write_dataset_folder
from tests.localhub.pages.corpus import NEW, OLD


@pytest.fixture(scope="session")
def mlcroissant(tmp_path_factory):
    """mlcroissant with its download cache in the session's temporary folder (it reads the path once, on import)."""
    os.environ["CROISSANT_CACHE"] = str(tmp_path_factory.mktemp("croissant"))
    import mlcroissant

    return mlcroissant


def croissant(hub, repo_id: str, revision: str | None = None) -> dict:
    params = {"revision": revision} if revision else {}
    answer = httpx2.get(f"{hub.endpoint}/api/datasets/{repo_id}/croissant", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_release_is_valid_croissant_whose_records_are_the_releases_rows(mlcroissant, hub, corpus, released_rows):
    description = croissant(hub, corpus.repo_id, f"v{OLD}")
    dataset = mlcroissant.Dataset(jsonld=description)
    issues = dataset.metadata.ctx.issues
    assert (issues.errors, issues.warnings) == (set(), set())
    for split, rows in released_rows(f"v{OLD}").items():
        records = [_cells(record, f"{split}/") for record in dataset.records(split)]
        assert records == rows, split


def _cells(record: dict, prefix: str) -> dict:
    """A Croissant record as the viewer's cells: fields by name without their record set, nested ones by their leaves
    (`translation.en`), text decoded, values as text."""
    cells = {}
    for name, value in record.items():
        if isinstance(value, dict):
            cells.update(_cells(value, prefix))
        elif isinstance(value, list):
            cells[name.removeprefix(prefix).replace("/", ".")] = [_text(item) for item in value]
        else:
            cells[name.removeprefix(prefix).replace("/", ".")] = _text(value)
    return cells


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "null" if value is None else str(value)


def test_the_description_names_each_shard_by_sha256_with_the_cards_facts(hub, corpus):
    description = croissant(hub, corpus.repo_id, f"v{NEW}")
    folder = corpus.folders[NEW]
    files = {item["name"]: item for item in description["distribution"] if item["@type"] == "cr:FileObject"}
    assert set(files) == {path.relative_to(folder).as_posix() for path in (folder / "data").glob("*.parquet")}
    for name, item in files.items():
        content = (folder / name).read_bytes()
        assert item["sha256"] == hashlib.sha256(content).hexdigest()
        assert httpx2.get(item["contentUrl"]).content == content
    assert [record_set["name"] for record_set in description["recordSet"]] == ["train", "validation", "test"]
    assert description["version"] == NEW
    assert description["license"] == "cc-by-nc-sa-4.0"
    assert description["citeAs"].startswith("@misc{") and "version      = {2.0.0}" in description["citeAs"]
    assert description["url"] == f"{hub.endpoint}/datasets/{corpus.repo_id}?revision=v{NEW}"
    assert croissant(hub, corpus.repo_id)["version"] == NEW, "main is the latest release"
    assert croissant(hub, corpus.repo_id, f"v{OLD}")["version"] == OLD


def test_a_split_of_several_shards_is_a_file_set_of_them(mlcroissant, hub, repo_id, tmp_path):
    import pyarrow.parquet as pq
    from huggingface_hub import HfApi

    folder = write_dataset_folder(tmp_path / "sharded")
    pq.write_table(split_table("train", 4, offset=100), folder / "data" / "train-00001-of-00002.parquet")
    (folder / "data" / "train-00000-of-00001.parquet").rename(folder / "data" / "train-00000-of-00002.parquet")
    api = HfApi(token=hub.write_token)
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset")
    description = croissant(hub, repo_id)
    (file_set,) = [item for item in description["distribution"] if item["@type"] == "cr:FileSet"]
    assert file_set["containedIn"] == [
        {"@id": "data/train-00000-of-00002.parquet"},
        {"@id": "data/train-00001-of-00002.parquet"},
    ]
    # Warnings only: this small dataset has no version or citation.
    assert mlcroissant.Dataset(jsonld=description).metadata.ctx.issues.errors == set()

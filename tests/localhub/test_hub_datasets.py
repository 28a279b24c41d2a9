"""`datasets.load_dataset` (pinned, latest, streaming) and dataset cards against the server."""

from __future__ import annotations

import random

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard
from huggingface_hub.errors import HfHubHTTPError

from tests.localhub.hubdata import SPLIT_ROWS, head, write_dataset_folder


def _rows(dataset) -> dict[str, int]:
    return {split: dataset[split].num_rows for split in dataset}


def test_load_dataset_at_a_tag_and_at_main(api, dataset_repo, tmp_path):
    api.create_tag(dataset_repo, repo_type="dataset", tag="v1.0.0")
    api.upload_folder(
        folder_path=write_dataset_folder(tmp_path / "v2", offset=100),
        repo_id=dataset_repo,
        repo_type="dataset",
        commit_message="v2 rows",
    )
    pinned = datasets.load_dataset(dataset_repo, revision="v1.0.0")
    assert _rows(pinned) == SPLIT_ROWS
    assert pinned["train"][0] == {"id": "train-0", "en": "hello train-0", "fr": "bonjour train-0"}
    latest = datasets.load_dataset(dataset_repo)
    assert _rows(latest) == SPLIT_ROWS
    assert latest["train"][0]["id"] == "train-100"
    streamed = datasets.load_dataset(dataset_repo, streaming=True)
    assert {split: sum(1 for _ in streamed[split]) for split in streamed} == SPLIT_ROWS
    assert next(iter(streamed["test"]))["id"] == "test-100"


def test_load_dataset_streaming_reads_a_multi_block_parquet(api, repo_id, tmp_path):
    rng = random.Random(3)
    rows = 5000
    table = pa.table({"id": [f"r{i}" for i in range(rows)], "text": [rng.randbytes(900).hex() for _ in range(rows)]})
    folder = tmp_path / "stream"
    (folder / "data").mkdir(parents=True)
    pq.write_table(table, folder / "data" / "train-00000-of-00001.parquet", compression="none", row_group_size=500)
    (folder / "README.md").write_text(
        "---\nlicense: mit\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/train-*.parquet\n---\n"
    )
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset", commit_message="stream me")
    api.create_tag(repo_id, repo_type="dataset", tag="v1")
    streamed = datasets.load_dataset(repo_id, revision="v1", split="train", streaming=True)
    ids = [row["id"] for row in streamed]
    assert ids == [f"r{i}" for i in range(rows)]


def test_load_dataset_errors(hub, dataset_repo):
    with pytest.raises(datasets.exceptions.DatasetNotFoundError):
        datasets.load_dataset(f"{hub.user}/no-such-dataset")
    with pytest.raises(datasets.exceptions.DatasetNotFoundError, match="Revision"):
        datasets.load_dataset(dataset_repo, revision="v404")


def test_dataset_card_load_edit_push_load(hub, api, dataset_repo):
    card = DatasetCard.load(dataset_repo)
    assert card.data.license == "cc-by-4.0"
    card.data.pretty_name = "Tiny pairs, edited"
    card.text = card.text + "\nEdited by the card test.\n"
    card.push_to_hub(dataset_repo, token=hub.write_token, commit_message="Edit card")
    reloaded = DatasetCard.load(dataset_repo)
    assert reloaded.data.pretty_name == "Tiny pairs, edited"
    assert "Edited by the card test." in reloaded.text
    assert api.list_repo_commits(dataset_repo, repo_type="dataset")[0].title == "Edit card"
    assert _rows(datasets.load_dataset(dataset_repo, revision=head(api, dataset_repo))) == SPLIT_ROWS


@pytest.mark.parametrize(
    "metadata, reason",
    [
        ("license: cc-by-4.0\n", None),
        ("license: [mit, apache-2.0]\nlanguage: [en, fr]\n", None),
        ("license: freeware-ish\n", "license"),
        ("license: mit\ntask_categories: [translation, teleportation]\n", "task_categories"),
        ("license: mit\nlanguage: [en, 42]\n", "language"),
        ("license: mit\nsize_categories: [lots]\n", "size_categories"),
        ("configs:\n- data_files: data/*.parquet\n", "config_name"),
        ("configs:\n- config_name: default\n  data_files: [{split: train}]\n", "data_files"),
        ("configs:\n- config_name: a\n  data_files: x\n- config_name: a\n  data_files: y\n", "duplicate"),
    ],
)
def test_card_validation_checks_the_metadata(metadata, reason):
    card = DatasetCard(f"---\n{metadata}---\n# Card\n")
    if reason is None:
        card.validate()
    else:
        with pytest.raises(ValueError, match=reason):
            card.validate()


def test_push_to_hub_refuses_a_bad_card_before_uploading(hub, api, dataset_repo):
    before = head(api, dataset_repo)
    card = DatasetCard("---\nlicense: not-a-licence\n---\n# Bad\n")
    with pytest.raises(ValueError, match="license"):
        card.push_to_hub(dataset_repo, token=hub.write_token)
    assert head(api, dataset_repo) == before


def test_dataset_card_of_a_missing_repo(hub):
    with pytest.raises(HfHubHTTPError):
        DatasetCard.load(f"{hub.user}/no-such-dataset")

"""Tests of localhub/pages/shards.py: which files make each split, as `datasets` reads the card's `configs`."""

from __future__ import annotations

import pytest

from localhub.pages.shards import configs
from localhub.storage import Entry


def files(*paths: str) -> list[Entry]:
    return [Entry(path, "file", "0" * 40, 1) for path in paths]


def layout(found) -> dict[str, dict[str, list[str]]]:
    return {config.name: {split.name: [e.path for e in split.files] for split in config.splits} for config in found}


def test_the_cards_configs_give_each_split_its_files_in_load_order():
    card = {
        "configs": [
            {"config_name": "raw", "data_files": "raw/*.parquet"},
            {
                "config_name": "clean",
                "default": True,
                "data_files": [
                    {"split": "train", "path": "data/train-*.parquet"},
                    {"split": "test", "path": ["data/test-*.parquet", "extra/**/*.parquet"]},
                ],
            },
        ]
    }
    found = configs(
        files(
            "data/train-00001-of-00002.parquet",
            "data/train-00000-of-00002.parquet",
            "data/test-00000-of-00001.parquet",
            "data/nested/train-00000.parquet",
            "extra/a/b/more.parquet",
            "raw/all.parquet",
            "README.md",
        ),
        card,
    )
    assert layout(found) == {
        "clean": {
            "train": ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"],
            "test": ["data/test-00000-of-00001.parquet", "extra/a/b/more.parquet"],
        },
        "raw": {"train": ["raw/all.parquet"]},
    }


@pytest.mark.parametrize("card", [None, {}, {"configs": "not a list"}])
def test_without_configs_splits_come_from_file_names(card):
    found = configs(files("data/test-0.parquet", "data/train-0.parquet", "data/train-1.parquet", "notes.parquet"), card)
    assert layout(found) == {
        "default": {"train": ["data/train-0.parquet", "data/train-1.parquet"], "test": ["data/test-0.parquet"]}
    }


def test_a_repo_without_parquet_has_no_config():
    assert configs(files("README.md", "data.csv"), None) == []

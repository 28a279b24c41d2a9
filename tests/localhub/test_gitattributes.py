"""Tests of localhub/gitattributes.py: which paths a repo's `.gitattributes` sends to LFS, as git decides."""

from __future__ import annotations

import pytest

from localhub.gitattributes import default_gitattributes, routes_to_lfs

DATASET = default_gitattributes("dataset").decode()
MODEL = default_gitattributes("model").decode()


@pytest.mark.parametrize(
    ("path", "lfs"),
    [
        ("data/train-00000-of-00001.parquet", True),
        ("manifest.parquet", True),
        ("deep/in/a/folder/weights.safetensors", True),
        ("archive.tar.gz", True),
        ("runs/events.out.tfevents.1234", True),
        ("saved_model/variables/data-0", True),
        ("images/cat.png", True),
        ("README.md", False),
        ("CITATION.cff", False),
        ("data/train.csv", False),
        ("parquet.txt", False),
    ],
)
def test_the_hubs_default_file_routes_binary_formats_to_lfs(path, lfs):
    assert routes_to_lfs(DATASET, path) is lfs


def test_media_formats_go_to_lfs_in_dataset_repos_only():
    assert routes_to_lfs(DATASET, "audio/clip.wav") and not routes_to_lfs(MODEL, "audio/clip.wav")


def test_the_last_matching_line_decides_and_unset_filters_are_honoured():
    text = "*.csv filter=lfs diff=lfs merge=lfs -text\nsmall.csv -filter\n/top/*.bin filter=lfs\n"
    assert routes_to_lfs(text, "data/big.csv")
    assert not routes_to_lfs(text, "data/small.csv")
    assert routes_to_lfs(text, "top/a.bin") and not routes_to_lfs(text, "nested/top/a.bin")


def test_comments_and_other_attributes_are_ignored():
    assert not routes_to_lfs("# *.csv filter=lfs\n*.csv text eol=lf\n", "a.csv")

"""Tests of localhub/pages/viewer.py on a split of three shards of four row groups each, stored by the session's Hub:
the rows of a page, a search and a filter, a row by id, and how much of the split each of them reads."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from localhub import storage
from localhub.pages.shards import revision_configs
from localhub.pages.viewer import PAGE_ROWS, SplitRows

SHARDS, GROUPS, GROUP_ROWS = 3, 4, 500
WORDS = "gradient descent layer weight bias loss network attention token energy model sample".split()
CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---
"""


def _shard(number: int) -> pa.Table:
    generator = random.Random(number)
    start = number * GROUPS * GROUP_ROWS
    ids = [f"row-{start + i:06d}" for i in range(GROUPS * GROUP_ROWS)]
    english = [" ".join(generator.choices(WORDS, k=30)) + f" {generator.random()}" for _ in ids]
    return pa.table(
        {
            "id": ids,
            "translation": [{"en": text, "fr": text.upper()} for text in english],
            "line": list(range(start, start + len(ids))),
            "flags": [["rare"] if i % 97 == 0 else ["odd"] if i % 2 else [] for i in range(start, start + len(ids))],
        }
    )


@pytest.fixture(scope="module")
def split(hub, tmp_path_factory):
    """The split as stored, and all its rows as the viewer flattens them."""
    from huggingface_hub import HfApi

    folder = tmp_path_factory.mktemp("sharded")
    (folder / "data").mkdir()
    (folder / "README.md").write_text(CARD)
    tables = [_shard(number) for number in range(SHARDS)]
    for number, table in enumerate(tables):
        path = folder / "data" / f"train-{number:05d}-of-{SHARDS:05d}.parquet"
        pq.write_table(table, path, row_group_size=GROUP_ROWS)
    repo_id = f"{hub.user}/sharded-viewer"
    api = HfApi(token=hub.write_token)
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset")
    repo = storage.RepoStore(hub.data_dir).open("dataset", repo_id)
    (config,) = revision_configs(repo, repo.resolve("main"))
    rows = pa.concat_tables(tables).flatten().to_pylist()
    return repo, config.split("train"), rows


@pytest.fixture
def bytes_read(monkeypatch) -> list[int]:
    """The sizes of the store's reads while a test runs."""
    reads: list[int] = []
    read_range = storage.Repo.read_range

    def counted(self, entry, start, end):
        reads.append(end - start + 1)
        return read_range(self, entry, start, end)

    monkeypatch.setattr(storage.Repo, "read_range", counted)
    return reads


def test_a_page_is_the_rows_at_its_offset_across_shards(split):
    repo, train, rows = split
    viewer = SplitRows(repo, train)
    assert viewer.total == len(rows)
    offset = GROUPS * GROUP_ROWS - 30
    page = viewer.page(offset)
    assert (page.offset, page.total) == (offset, len(rows))
    assert page.records == rows[offset : offset + PAGE_ROWS]
    assert viewer.page(len(rows) - 10).records == rows[-10:]
    assert viewer.page(len(rows)).records == []


def test_a_page_reads_the_row_groups_it_shows_and_no_other(split, bytes_read):
    repo, train, _ = split
    viewer = SplitRows(repo, train)
    bytes_read.clear()
    viewer.page(GROUPS * GROUP_ROWS + 2 * GROUP_ROWS + 10)
    split_bytes = sum(entry.size for entry in train.files)
    group_bytes = split_bytes / (SHARDS * GROUPS)
    assert 0 < sum(bytes_read) < 1.5 * group_bytes


def test_a_search_gives_the_matching_rows_page_by_page(split):
    repo, train, rows = split
    viewer = SplitRows(repo, train)
    matching = [row for row in rows if "gradient descent" in row["translation.en"]]
    assert len(matching) > PAGE_ROWS
    first = viewer.search(0, text="GRADIENT Descent")
    assert (first.total, first.records) == (len(matching), matching[:PAGE_ROWS])
    assert viewer.search(PAGE_ROWS, text="gradient descent").records == matching[PAGE_ROWS : 2 * PAGE_ROWS]
    assert viewer.search(0, text="row-004321").records == [rows[4321]]


def test_a_flag_filter_gives_the_flagged_rows_and_combines_with_a_search(split):
    repo, train, rows = split
    viewer = SplitRows(repo, train)
    rare = [row for row in rows if "rare" in row["flags"]]
    odd = sum("odd" in row["flags"] for row in rows)
    assert viewer.flag_counts() == {"odd": odd, "rare": len(rare)}
    found = viewer.search(0, flag="rare")
    assert (found.total, found.records) == (len(rare), rare)
    both = [row for row in rare if "energy" in row["translation.en"]]
    assert viewer.search(0, text="energy", flag="rare").records == both


def test_a_row_is_found_by_id_reading_only_the_row_group_that_can_hold_it(split, bytes_read):
    repo, train, rows = split
    viewer = SplitRows(repo, train)
    bytes_read.clear()
    assert viewer.offset_of("row-003777") == 3777
    split_bytes = sum(entry.size for entry in train.files)
    assert sum(bytes_read) < split_bytes / (SHARDS * GROUPS)
    assert viewer.offset_of("row-999999") is None
    assert viewer.offset_of(rows[0]["id"]) == 0

"""The README's DuckDB and polars recipes for reading a release from the embedded Hub, run as written.

`hf://` in DuckDB and polars is bound to huggingface.co, so the recipes go through `huggingface_hub.HfFileSystem`,
which follows `HF_ENDPOINT`. The repo holds two states: the tag `v1.0.0` and a later commit on `main`, with the
same file names and other rows, so a recipe that ignores the revision reads the wrong rows.
"""

from __future__ import annotations

import uuid

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from tests.localhub.hubdata import CARD, SPLIT_ROWS, split_table

# No huggingface_hub import at module level: the root conftest sets HF_ENDPOINT before it may be imported.

TAG = "v1.0.0"
# Offset of the row ids each revision holds (see `split_table`).
REVISIONS = {TAG: 0, "main": 100}
TRAIN_SHARDS = 2


def _write_release(folder, offset: int):
    """The card and the splits, `train` in two shards so that the recipes' globs must gather every shard."""
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text(CARD)
    for split, rows in SPLIT_ROWS.items():
        table = split_table(split, rows, offset)
        shards = TRAIN_SHARDS if split == "train" else 1
        step = -(-rows // shards)
        for index in range(shards):
            pq.write_table(
                table.slice(index * step, step), folder / "data" / f"{split}-{index:05d}-of-{shards:05d}.parquet"
            )
    return folder


@pytest.fixture(scope="module")
def release(hub, tmp_path_factory) -> str:
    """A public dataset repo: `v1.0.0` tags the first commit, then `main` moves on to other rows."""
    from huggingface_hub import HfApi

    api = HfApi(token=hub.write_token)
    repo_id = f"{hub.user}/test-consumers-{uuid.uuid4().hex[:12]}"
    api.create_repo(repo_id, repo_type="dataset")
    for revision, offset in REVISIONS.items():
        folder = _write_release(tmp_path_factory.mktemp(f"release-{revision}"), offset)
        api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset", commit_message=revision)
        if revision == TAG:
            api.create_tag(repo_id, repo_type="dataset", tag=TAG)
    return repo_id


def _expected(split: str, revision: str) -> list[dict]:
    return split_table(split, SPLIT_ROWS[split], REVISIONS[revision]).to_pylist()


@pytest.mark.parametrize("revision", list(REVISIONS))
def test_duckdb_reads_a_revision_through_hffilesystem(release, revision):
    from huggingface_hub import HfFileSystem

    con = duckdb.connect()
    try:
        con.register_filesystem(HfFileSystem())
        for split in SPLIT_ROWS:
            path = f"hf://datasets/{release}@{revision}/data/{split}-*.parquet"
            rel = con.sql(f"select * from read_parquet('{path}')")
            rows = [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]
            assert rows == _expected(split, revision), split
    finally:
        con.close()


@pytest.mark.parametrize("revision", list(REVISIONS))
def test_polars_reads_a_revision_through_resolve_urls(hub, release, revision):
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem()
    for split in SPLIT_ROWS:
        shards = fs.glob(f"datasets/{release}@{revision}/data/{split}-*.parquet")
        urls = [fs.url(shard) for shard in shards]
        # The URLs are the embedded Hub's, pinned to the revision: polars reads them with its own HTTP client.
        assert all(url.startswith(f"{hub.endpoint}/datasets/{release}/resolve/{revision}/data/") for url in urls)
        assert len(urls) == (TRAIN_SHARDS if split == "train" else 1), split
        df = pl.read_parquet(urls)
        assert df.to_dicts() == _expected(split, revision), split

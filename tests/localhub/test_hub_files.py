"""File transfer: downloads into the cache, a 50 MB inline commit, and ranged reads through HfFileSystem."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import CommitOperationAdd, HfFileSystem, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.localhub.hubdata import head


def test_hf_hub_download_lands_in_the_snapshot_named_after_the_commit(api, dataset_repo):
    path = Path(hf_hub_download(dataset_repo, "data/train-00000-of-00001.parquet", repo_type="dataset"))
    assert path.parent.parent.name == head(api, dataset_repo)
    assert pq.read_table(path).num_rows == 8
    # A Xet-backed file is cached as a blob named after its Xet hash, shared across repos.
    assert (
        path.resolve().name
        == api.get_paths_info(dataset_repo, ["data/train-00000-of-00001.parquet"], repo_type="dataset")[0].xet_hash
    )


def test_hf_hub_download_errors(hub, dataset_repo):
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(dataset_repo, "missing.txt", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(dataset_repo, "README.md", repo_type="dataset", revision="v404")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"{hub.user}/no-such-repo", "README.md", repo_type="dataset")


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory) -> Path:
    """A ~6 MB Parquet file of incompressible rows in several row groups."""
    rng = random.Random(7)
    rows = 6000
    table = pa.table(
        {
            "id": list(range(rows)),
            "blob": [rng.randbytes(1000) for _ in range(rows)],
        }
    )
    path = tmp_path_factory.mktemp("big") / "train-00000-of-00001.parquet"
    pq.write_table(table, path, compression="none", row_group_size=1000)
    return path


def test_hffilesystem_ranged_reads_return_the_right_bytes(api, repo_id, big_parquet):
    local = big_parquet.read_bytes()
    assert len(local) > 5 * 1024 * 1024
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(big_parquet), path_in_repo="data/train.parquet", repo_id=repo_id, repo_type="dataset"
    )
    fs = HfFileSystem(token=False)
    remote = f"datasets/{repo_id}/data/train.parquet"
    assert fs.size(remote) == len(local)
    rng = random.Random(11)
    with fs.open(remote, "rb", block_size=64 * 1024) as fh:
        for offset in [0, 1, len(local) - 8, len(local) // 2] + [rng.randrange(len(local)) for _ in range(20)]:
            length = rng.randrange(1, 200_000)
            fh.seek(offset)
            assert fh.read(length) == local[offset : offset + length]
        fh.seek(len(local) - 4)
        assert fh.read() == b"PAR1"
        assert fh.read(10) == b""
    assert fs.cat_file(remote, start=-100) == local[-100:]
    with fs.open(remote, "rb", block_size=256 * 1024) as fh:
        assert pq.ParquetFile(fh).read_row_group(3).column("id").to_pylist() == list(range(3000, 4000))


def test_hffilesystem_listing_glob_and_info(dataset_repo):
    fs = HfFileSystem(token=False)
    root = f"datasets/{dataset_repo}"
    found = fs.find(root)
    assert f"{root}/data/test-00000-of-00001.parquet" in found
    assert sorted(fs.glob(f"{root}/**/*.parquet")) == sorted(
        f"{root}/data/{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")
    )
    assert fs.isdir(f"{root}/data") and fs.isfile(f"{root}/README.md")
    assert sorted(fs.ls(root, detail=False)) == sorted(f"{root}/{n}" for n in (".gitattributes", "README.md", "data"))
    assert fs.info(f"{root}/README.md", refresh=True)["size"] == len(fs.cat_file(f"{root}/README.md"))
    assert fs.exists(f"{root}/nope.txt") is False
    assert fs.read_text(f"{root}@main/README.md").startswith("---")


def test_stream_file_reads_to_the_end(api, repo_id, big_parquet):
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(big_parquet), path_in_repo="train.parquet", repo_id=repo_id, repo_type="dataset"
    )
    fs = HfFileSystem(token=False)
    local = big_parquet.read_bytes()
    with fs.open(f"datasets/{repo_id}/train.parquet", "rb", block_size=0) as stream:
        assert stream.read(1000) == local[:1000]
        assert stream.read(5000) == local[1000:6000]
        assert stream.read() == local[6000:]
        assert stream.read(1) == b""


def test_tree_listing_follows_absolute_pagination_links(api, repo_id):
    api.create_repo(repo_id, repo_type="dataset")
    names = [f"many/f{i:04d}.txt" for i in range(1100)]
    api.create_commit(
        repo_id,
        repo_type="dataset",
        commit_message="many files",
        operations=[CommitOperationAdd(name, name.encode()) for name in names],
    )
    assert sorted(api.list_repo_files(repo_id, repo_type="dataset")) == sorted([".gitattributes", *names])
    listed = [e.path for e in api.list_repo_tree(repo_id, path_in_repo="many", repo_type="dataset")]
    assert listed == names


def test_large_inline_files_are_served_after_the_blob_cache_is_removed(hub, api, repo_id, tmp_path):
    import shutil

    # Text under the Hub's 10 MB limit stays a git blob; above 4 MiB it is also cached for ranged reads.
    local = b"".join(b"%08d a line of a large text file\n" % i for i in range(200_000))
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=local, path_in_repo="notes.txt", repo_id=repo_id, repo_type="dataset")
    assert api.get_paths_info(repo_id, ["notes.txt"], repo_type="dataset")[0].lfs is None
    cache = hub.data_dir / "datasets" / f"{repo_id}.git" / "localhub-cache"
    assert any(cache.iterdir())
    shutil.rmtree(cache)
    path = hf_hub_download(repo_id, "notes.txt", repo_type="dataset", local_dir=tmp_path)
    assert Path(path).read_bytes() == local
    fs = HfFileSystem(token=False)
    assert fs.cat_file(f"datasets/{repo_id}/notes.txt", start=123_456, end=223_456) == local[123_456:223_456]

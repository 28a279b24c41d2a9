"""Storage as on the Hub: LFS pointers in git, content through Xet (the default client path) or git-lfs (Xet off),
read back through hf_xet, plain HTTP and `datasets`; uploads that do not match their hash are refused."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfFileSystem, hf_hub_download

from tests.localhub.hubdata import head

XET_ROUTES = ("/cas/v1/xorbs/",)
LFS_ROUTES = ("/lfs-transfer/",)


@pytest.fixture(params=["xet", "lfs"])
def transfer(request, monkeypatch, caplog) -> str:
    """Runs a test with hf_xet (the client's default) and again with HF_HUB_DISABLE_XET, as git-lfs clients do."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", request.param == "lfs")
    caplog.set_level(logging.INFO, logger="localhub.access")
    return request.param


def routes_taken(caplog) -> set[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == "localhub.access"]
    return {
        name
        for name, routes in (("xet", XET_ROUTES), ("lfs", LFS_ROUTES))
        if any(route in line for line in lines for route in routes)
    }


def parquet_bytes(rows: int) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(rows)), "text": [f"row {i}" for i in range(rows)]}), buffer)
    return buffer.getvalue()


def stored_blob(hub, repo_id: str, path: str) -> bytes:
    git_dir = hub.data_dir / "datasets" / f"{repo_id}.git"
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "-p", f"main:{path}"], capture_output=True, check=True
    ).stdout


def resolve_get(hub, repo_id: str, path: str, headers: dict | None = None):
    import httpx2

    return httpx2.get(f"{hub.endpoint}/datasets/{repo_id}/resolve/main/{path}", headers=headers or {})


def test_parquet_is_an_lfs_pointer_in_git_and_downloads_byte_identical(hub, api, repo_id, transfer, caplog, tmp_path):
    content = parquet_bytes(20_000)
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=content, path_in_repo="data/train.parquet", repo_id=repo_id, repo_type="dataset")

    assert routes_taken(caplog) == {transfer}
    entry = api.get_paths_info(repo_id, ["data/train.parquet"], repo_type="dataset")[0]
    sha256 = hashlib.sha256(content).hexdigest()
    assert (entry.size, entry.lfs.sha256, entry.lfs.size) == (len(content), sha256, len(content))
    assert (entry.xet_hash is not None) == (transfer == "xet")
    pointer = stored_blob(hub, repo_id, "data/train.parquet")
    assert pointer == f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(content)}\n".encode()
    assert entry.blob_id == hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()
    assert entry.lfs.pointer_size == len(pointer)

    caplog.clear()
    path = hf_hub_download(repo_id, "data/train.parquet", repo_type="dataset", local_dir=tmp_path)
    assert Path(path).read_bytes() == content
    downloaded_through = {r.getMessage().split()[2] for r in caplog.records if "/cas/" in r.getMessage()}
    assert bool(downloaded_through) == (transfer == "xet")

    plain = resolve_get(hub, repo_id, "data/train.parquet")
    assert plain.content == content
    assert plain.headers["X-Linked-Etag"] == f'"{sha256}"' and plain.headers["X-Linked-Size"] == str(len(content))
    assert ("X-Xet-Hash" in plain.headers) == (transfer == "xet")
    ranged = resolve_get(hub, repo_id, "data/train.parquet", {"Range": "bytes=70000-80000"})
    assert ranged.status_code == 206 and ranged.content == content[70000:80001]


def test_small_text_stays_inline(hub, api, repo_id, transfer, caplog):
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"notes\n", path_in_repo="notes.txt", repo_id=repo_id, repo_type="dataset")
    entry = api.get_paths_info(repo_id, ["notes.txt"], repo_type="dataset")[0]
    assert entry.lfs is None and entry.xet_hash is None
    assert stored_blob(hub, repo_id, "notes.txt") == b"notes\n"
    assert routes_taken(caplog) == set()


def test_an_eleven_megabyte_text_file_goes_to_lfs(hub, api, repo_id, transfer, caplog, tmp_path):
    content = b"".join(b"line %09d of a long text file\n" % i for i in range(320_000))
    assert 11 * 1000 * 1000 < len(content) < 12 * 1000 * 1000
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=content, path_in_repo="big.txt", repo_id=repo_id, repo_type="dataset")
    assert routes_taken(caplog) == {transfer}
    if transfer == "lfs":
        # Larger than one part: the multipart transfer (three 5 MiB parts), as S3 takes it on the Hub.
        assert sum('"PUT /lfs-transfer/' in r.getMessage() for r in caplog.records) == 3
    entry = api.get_paths_info(repo_id, ["big.txt"], repo_type="dataset")[0]
    assert entry.lfs.sha256 == hashlib.sha256(content).hexdigest()
    assert Path(hf_hub_download(repo_id, "big.txt", repo_type="dataset", local_dir=tmp_path)).read_bytes() == content


def test_an_unchanged_lfs_file_is_not_uploaded_or_committed_again(api, repo_id, transfer, caplog):
    content = parquet_bytes(1000)
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=content, path_in_repo="a.parquet", repo_id=repo_id, repo_type="dataset")
    before = head(api, repo_id)
    caplog.clear()
    api.upload_file(path_or_fileobj=content, path_in_repo="a.parquet", repo_id=repo_id, repo_type="dataset")
    assert head(api, repo_id) == before
    assert routes_taken(caplog) == set()


def test_push_to_hub_then_load_dataset_round_trips(hub, repo_id, transfer, caplog, tmp_path):
    import datasets

    rows = {
        "id": [f"r{i}" for i in range(50)],
        "translation": [{"en": f"hello {i}", "fr": f"bonjour {i}"} for i in range(50)],
    }
    features = datasets.Features(
        {"id": datasets.Value("string"), "translation": datasets.Translation(languages=["en", "fr"])}
    )
    built = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features)})
    built.push_to_hub(repo_id, token=hub.write_token)
    assert routes_taken(caplog) == {transfer}
    loaded = datasets.load_dataset(repo_id, cache_dir=str(tmp_path / "cache"))
    assert loaded["train"].to_dict() == built["train"].to_dict()


def raw_commit(hub, repo_id: str, lines: list[dict]):
    import httpx2

    body = (
        "\n".join(
            json.dumps(line) for line in [{"key": "header", "value": {"summary": "raw", "description": ""}}, *lines]
        )
        + "\n"
    )
    return httpx2.post(
        f"{hub.endpoint}/api/datasets/{repo_id}/commit/main",
        content=body.encode(),
        headers={"Authorization": f"Bearer {hub.write_token}", "Content-Type": "application/x-ndjson"},
    )


def test_a_commit_naming_content_never_uploaded_is_refused(hub, api, repo_id):
    api.create_repo(repo_id, repo_type="dataset")
    before = head(api, repo_id)
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    answer = raw_commit(
        hub,
        repo_id,
        [{"key": "lfsFile", "value": {"path": "data/x.parquet", "algo": "sha256", "oid": missing, "size": 14}}],
    )
    assert answer.status_code == 400
    assert "data/x.parquet" in answer.json()["error"] and missing in answer.json()["error"]
    # A pointer smuggled in as an inline file names missing content just the same.
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{missing}\nsize 14\n".encode()
    smuggled = raw_commit(
        hub,
        repo_id,
        [
            {
                "key": "file",
                "value": {"path": "x.txt", "content": base64.b64encode(pointer).decode(), "encoding": "base64"},
            }
        ],
    )
    assert smuggled.status_code == 400 and "x.txt" in smuggled.json()["error"]
    assert head(api, repo_id) == before


def lfs_batch(hub, repo_id: str, oid: str, size: int) -> dict:
    import httpx2

    answer = httpx2.post(
        f"{hub.endpoint}/datasets/{repo_id}.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic"],
            "hash_algo": "sha256",
            "objects": [{"oid": oid, "size": size}],
        },
        headers={"Authorization": f"Bearer {hub.write_token}"},
    )
    answer.raise_for_status()
    return answer.json()["objects"][0]


def test_an_lfs_upload_that_does_not_match_its_sha256_is_refused(hub, api, repo_id):
    import httpx2

    api.create_repo(repo_id, repo_type="dataset")
    content = b"the real content"
    oid = hashlib.sha256(content).hexdigest()
    upload = lfs_batch(hub, repo_id, oid, len(content))["actions"]["upload"]["href"]
    refused = httpx2.put(upload, content=b"other content!!!")
    assert refused.status_code == 400 and "sha256" in refused.json()["error"]
    assert "actions" in lfs_batch(hub, repo_id, oid, len(content))
    forged = httpx2.put(upload.replace("signature=", "signature=x"), content=content)
    assert forged.status_code == 403
    add_pointer = [{"key": "lfsFile", "value": {"path": "a.bin", "algo": "sha256", "oid": oid, "size": len(content)}}]
    assert raw_commit(hub, repo_id, add_pointer).status_code == 400
    assert httpx2.put(upload, content=content).status_code == 200
    assert "actions" not in lfs_batch(hub, repo_id, oid, len(content))
    assert raw_commit(hub, repo_id, add_pointer).status_code == 200
    assert resolve_get(hub, repo_id, "a.bin").content == content


def xet_token(hub, repo_id: str, scope: str, token: str | None = None) -> tuple[str, str]:
    import httpx2

    answer = httpx2.get(
        f"{hub.endpoint}/api/datasets/{repo_id}/xet-{scope}-token/main",
        headers={"Authorization": f"Bearer {token or hub.write_token}"},
    )
    answer.raise_for_status()
    assert answer.headers["X-Xet-Access-Token"] == answer.json()["accessToken"]
    return answer.headers["X-Xet-Cas-Url"], answer.headers["X-Xet-Access-Token"]


GOLDEN = Path(__file__).resolve().parents[1] / "data" / "xet"


def golden_xorb() -> tuple[str, bytes]:
    path = max(GOLDEN.glob("*.xorb"), key=lambda p: p.stat().st_size)
    return path.stem, path.read_bytes()


def test_a_xorb_whose_content_does_not_match_its_hash_is_refused(hub, api, repo_id):
    import httpx2

    api.create_repo(repo_id, repo_type="dataset")
    cas, token = xet_token(hub, repo_id, "write")
    auth = {"Authorization": f"Bearer {token}"}
    name, body = golden_xorb()
    wrong_name = name[::-1]
    refused = httpx2.post(f"{cas}/v1/xorbs/default/{wrong_name}", content=body, headers=auth)
    assert refused.status_code == 400 and name in refused.json()["error"]
    corrupted = bytearray(body)
    corrupted[len(body) // 2] ^= 0xFF
    assert httpx2.post(f"{cas}/v1/xorbs/default/{name}", content=bytes(corrupted), headers=auth).status_code == 400
    assert not list((hub.data_dir / "xet" / "xorbs").rglob(f"{wrong_name}*"))
    accepted = httpx2.post(f"{cas}/v1/xorbs/default/{name}", content=body, headers=auth)
    assert accepted.status_code == 200


def test_xet_tokens_are_scoped_to_one_repo_and_one_right(hub, api, repo_id):
    import httpx2

    api.create_repo(repo_id, repo_type="dataset")
    cas, read_token = xet_token(hub, repo_id, "read", hub.read_token)
    name, body = golden_xorb()
    denied = httpx2.post(
        f"{cas}/v1/xorbs/default/{name}", content=body, headers={"Authorization": f"Bearer {read_token}"}
    )
    assert denied.status_code == 403
    for forged in ("xet_e30.AAAA", read_token[:-2] + "xx", "not-a-token"):
        assert (
            httpx2.post(f"{cas}/v1/shards", content=b"", headers={"Authorization": f"Bearer {forged}"}).status_code
            == 401
        )
    assert httpx2.get(f"{hub.endpoint}/api/datasets/{repo_id}/xet-write-token/main").status_code == 401
    assert (
        httpx2.get(
            f"{hub.endpoint}/api/datasets/{repo_id}/xet-write-token/main",
            headers={"Authorization": f"Bearer {hub.read_token}"},
        ).status_code
        == 403
    )


def test_a_file_of_another_repo_cannot_be_reconstructed(hub, api, repo_id):
    import httpx2

    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=parquet_bytes(500), path_in_repo="a.parquet", repo_id=repo_id, repo_type="dataset")
    file_hash = api.get_paths_info(repo_id, ["a.parquet"], repo_type="dataset")[0].xet_hash
    cas, token = xet_token(hub, repo_id, "read")
    found = httpx2.get(f"{cas}/v2/reconstructions/{file_hash}", headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200
    fetch = next(iter(found.json()["xorbs"].values()))[0]
    other = f"{repo_id}-other"
    api.create_repo(other, repo_type="dataset")
    _, other_token = xet_token(hub, other, "read")
    assert (
        httpx2.get(
            f"{cas}/v2/reconstructions/{file_hash}", headers={"Authorization": f"Bearer {other_token}"}
        ).status_code
        == 404
    )
    # A presigned xorb URL serves the one range it was signed for.
    signed = fetch["ranges"][0]["bytes"]
    assert httpx2.get(fetch["url"], headers={"Range": f"bytes={signed['start']}-{signed['end']}"}).status_code == 206
    assert httpx2.get(fetch["url"], headers={"Range": f"bytes=0-{signed['end'] + 1}"}).status_code == 403


def test_a_repo_holding_regular_parquet_blobs_still_loads_and_accepts_commits(hub, api, repo_id, tmp_path):
    import datasets

    from tests.localhub.hubdata import CARD, split_table
    from tests.localhub.hubdata import parquet_bytes as table_bytes

    api.create_repo(repo_id, repo_type="dataset")
    inline = [
        {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}}
        for path, data in [("README.md", CARD.encode())]
        + [
            (f"data/{split}-00000-of-00001.parquet", table_bytes(split_table(split, 3)))
            for split in ("train", "validation", "test")
        ]
    ]
    assert raw_commit(hub, repo_id, inline).status_code == 200
    assert api.get_paths_info(repo_id, ["data/train-00000-of-00001.parquet"], repo_type="dataset")[0].lfs is None
    assert datasets.load_dataset(repo_id, cache_dir=str(tmp_path / "a"))["train"].num_rows == 3
    api.upload_file(
        path_or_fileobj=table_bytes(split_table("train", 5)),
        repo_id=repo_id,
        repo_type="dataset",
        path_in_repo="data/train-00000-of-00001.parquet",
    )
    assert api.get_paths_info(repo_id, ["data/train-00000-of-00001.parquet"], repo_type="dataset")[0].lfs
    assert datasets.load_dataset(repo_id, cache_dir=str(tmp_path / "b"))["train"].num_rows == 5


def test_hffilesystem_reads_ranges_of_a_xet_file_over_plain_http(api, repo_id):
    content = parquet_bytes(200_000)
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=content, path_in_repo="big.parquet", repo_id=repo_id, repo_type="dataset")
    fs = HfFileSystem(token=False)
    remote = f"datasets/{repo_id}/big.parquet"
    for start in (0, 65_535, 131_072, len(content) - 100):
        assert fs.cat_file(remote, start=start, end=start + 100_000) == content[start : start + 100_000]
    with fs.open(remote, "rb") as fh:
        assert pq.ParquetFile(fh).read().num_rows == 200_000

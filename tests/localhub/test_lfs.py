"""Tests of localhub/lfs.py: LFS pointers, the Hub's upload-mode decision, and the checked object store."""

from __future__ import annotations

import hashlib

import pytest

from localhub.gitattributes import default_gitattributes
from localhub.lfs import LARGE_FILE_BYTES, ObjectError, ObjectStore, Pointer, parse_pointer, upload_mode

ATTRIBUTES = default_gitattributes("dataset").decode()


def test_a_pointer_round_trips_and_other_blobs_are_not_pointers():
    pointer = Pointer(hashlib.sha256(b"x").hexdigest(), 1)
    assert parse_pointer(pointer.encode()) == pointer
    assert parse_pointer(pointer.encode() + b"extra") is None
    assert parse_pointer(pointer.encode().replace(b"sha256:", b"sha1:")) is None
    assert parse_pointer(b"just some text\n") is None


@pytest.mark.parametrize(
    ("path", "size", "sample", "mode"),
    [
        ("data/a.parquet", 100, b"PAR1", "lfs"),
        ("notes.txt", 100, b"plain text\n", "regular"),
        ("notes.txt", LARGE_FILE_BYTES + 1, b"plain text\n", "lfs"),
        ("blob.dat", 100, b"\x00\x01\x02", "lfs"),
        ("latin1.txt", 100, "café".encode("latin-1"), "lfs"),
        # A sample cut inside a UTF-8 character is still text.
        ("long.txt", 1000, "é".encode()[:1].rjust(512, b"a"), "regular"),
    ],
)
def test_upload_mode_follows_the_hubs_rules(path, size, sample, mode):
    assert upload_mode(ATTRIBUTES, path, size, sample) == mode


def test_the_store_keeps_only_content_that_matches_its_sha256_and_size(tmp_path):
    store = ObjectStore(tmp_path)
    content = b"released shard"
    oid = hashlib.sha256(content).hexdigest()
    with pytest.raises(ObjectError, match="hashes to"):
        store.put(oid, len(content), [b"other content!"])
    with pytest.raises(ObjectError, match="bytes"):
        store.put(oid, len(content) + 1, [content])
    assert not store.has(oid) and not list(tmp_path.rglob(".incoming-*"))
    store.put(oid, len(content), [content[:5], content[5:]])
    assert store.has(oid, len(content)) and not store.has(oid, len(content) + 1)
    assert b"".join(store.read_range(oid, 9, len(content) - 1)) == content[9:]
    with pytest.raises(ObjectError):
        store.path("../../etc/passwd")

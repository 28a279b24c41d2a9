"""Shards: round trips, hostile uploads, and the shards hf_xet 1.8.0 sent checked against its xorbs and inputs."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import hf_xet
import pytest

from localhub.xet.hashing import file_hash, hash_to_hex, verification_hash
from localhub.xet.shard import (
    FileInfo,
    Shard,
    ShardFormatError,
    Term,
    XorbInfo,
    parse_shard,
    serialize_shard,
)
from localhub.xet.xorb import Chunk, read_chunks, read_xorb
from tests.localhub.xet.golden import DATA_DIR, SHARD_INPUTS, xorb_paths


def h(label: str) -> bytes:
    return hashlib.blake2s(label.encode()).digest()


def two_file_shard(verification: bool = True) -> Shard:
    def hashes(*labels: str) -> tuple[bytes, ...] | None:
        return tuple(h(label) for label in labels) if verification else None

    weights = FileInfo(
        h("weights"),
        (Term(h("xorb A"), 0, 3, 300), Term(h("xorb B"), 5, 6, 40)),
        hashes("v0", "v1"),
        hashlib.sha256(b"weights").digest(),
    )
    readme = FileInfo(h("readme"), (Term(h("xorb B"), 0, 5, 200),), hashes("v2"), None)
    xorbs = (
        XorbInfo(h("xorb A"), ((h("a0"), 0, 100), (h("a1"), 100, 100), (h("a2"), 200, 100)), 300, 330),
        XorbInfo(h("xorb B"), tuple((h(f"b{i}"), 40 * i, 40) for i in range(6)), 240, 0),
    )
    return Shard((weights, readme), xorbs)


@pytest.mark.parametrize("verification", [True, False])
def test_round_trip(verification):
    shard = two_file_shard(verification)
    assert parse_shard(serialize_shard(shard)) == shard


def test_empty_shard_round_trips():
    assert parse_shard(serialize_shard(Shard((), ()))) == Shard((), ())


def test_a_file_with_no_term_is_accepted():
    # hf_xet describes an empty file this way (see empty-and-hello.shard).
    shard = Shard((FileInfo(bytes(32), (), (), hashlib.sha256(b"").digest()),), ())
    assert parse_shard(serialize_shard(shard)) == shard


def test_footer_of_version_1_is_accepted_when_the_header_declares_it():
    body = bytearray(serialize_shard(two_file_shard()))
    body[40:48] = struct.pack("<Q", 200)
    body += struct.pack("<Q", 1) + bytes(192)
    assert parse_shard(bytes(body)) == two_file_shard()


def patched(offset: int, value: bytes) -> bytes:
    body = bytearray(serialize_shard(two_file_shard()))
    body[offset : offset + len(value)] = value
    return bytes(body)


# Layout of two_file_shard(): the header; the weights file at 48 (header, 2 terms from 96, 2 verification entries,
# sha256); the readme file at 336 (header, 1 term at 384, 1 verification entry); the file bookend at 480; xorb A at
# 528 (header, 3 chunks), xorb B at 720 (header, 6 chunks); the xorb bookend at 1056; 1104 bytes in all.
WEIGHTS_TERM_1 = 144
README = 336
FILE_BOOKEND = 480
XORB_A = 528
XORB_BOOKEND = 1056


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", r"header at byte 0: shard ends after 0 of its 48 bytes"),
        (patched(0, b"X"), r"header at byte 0: tag is not MDB_SHARD_HEADER_TAG"),
        (patched(32, struct.pack("<Q", 1)), r"header at byte 0: version 1, expected 2"),
        (
            patched(48 + 36, struct.pack("<I", 0xFFFFFFFF)),
            r"file info section: file 0 at byte 48: 4294967295 entries need 412316860368 bytes, only 1008 remain",
        ),
        (
            patched(XORB_A + 36, struct.pack("<I", 1000)),
            r"xorb info section: xorb 0 at byte 528: 1000 chunks need 48000 bytes, only 528 remain",
        ),
        (
            patched(README + 32, struct.pack("<I", 1 << 30)),
            r"file info section: file 1 at byte 336: verification entries must be on every file or on none",
        ),
        (
            patched(WEIGHTS_TERM_1 + 40, struct.pack("<II", 3, 3)),
            r"file info section: file 0 at byte 48: term 1: chunk range \[3, 3\) holds no chunk",
        ),
        (
            serialize_shard(two_file_shard())[:XORB_BOOKEND],
            r"xorb info section: xorb 2 or bookend at byte 1056: shard ends after 0 of its 48 bytes",
        ),
        (
            serialize_shard(two_file_shard())[: FILE_BOOKEND + 40],
            r"file info section: file 2 or bookend at byte 480: shard ends after 40 of its 48 bytes",
        ),
        (
            serialize_shard(two_file_shard()) + b"garbage",
            r"footer: 7 bytes follow the xorb info section at byte 1104 but the header declares no footer",
        ),
        (
            patched(40, struct.pack("<Q", 200)),
            r"footer at byte 1104: 0 bytes follow the xorb info section, expected 200",
        ),
        (patched(40, struct.pack("<Q", 100)), r"header at byte 0: footer size 100, expected 0 or 200"),
        (
            patched(40, struct.pack("<Q", 200)) + struct.pack("<Q", 2) + bytes(192),
            r"footer at byte 1104: version 2, expected 1",
        ),
    ],
)
def test_hostile_shard_is_refused_with_section_entry_and_offset(body, message):
    with pytest.raises(ShardFormatError, match=message):
        parse_shard(body)


def store_xorbs(directory: Path) -> dict[str, tuple[Path, list[Chunk]]]:
    """Each hf_xet xorb fixture as the server keeps it, by hash string: the copy read_xorb wrote, and its chunks."""
    stored = {}
    for path in xorb_paths():
        body = path.read_bytes()
        copy = directory / path.name
        with copy.open("wb") as sink:
            stored[path.stem] = (copy, read_xorb(io.BytesIO(body), len(body), sink))
    return stored


@pytest.mark.parametrize("shard_name", sorted(SHARD_INPUTS))
def test_shard_uploaded_by_hf_xet_matches_its_xorbs_and_inputs(shard_name, tmp_path):
    body = (DATA_DIR / shard_name).read_bytes()
    shard = parse_shard(body)
    assert serialize_shard(shard) == body

    xorbs = store_xorbs(tmp_path)
    inputs = {name: make() for name, make in SHARD_INPUTS[shard_name].items()}
    by_sha256 = {hashlib.sha256(data).digest(): name for name, data in inputs.items()}
    assert sorted(by_sha256[info.sha256] for info in shard.files) == sorted(inputs)

    for info in shard.files:
        name = by_sha256[info.sha256]
        file_chunks, rebuilt = [], []
        for term, expected_verification in zip(info.terms, info.verification, strict=True):
            path, chunks = xorbs[hash_to_hex(term.xorb)]
            run = chunks[term.chunk_start : term.chunk_end]
            assert verification_hash([c.hash for c in run]) == expected_verification
            assert term.size == sum(c.size for c in run)
            file_chunks += [(c.hash, c.size) for c in run]
            with path.open("rb") as source:
                rebuilt += read_chunks(source, run)
        assert file_hash(file_chunks) == info.file_hash
        assert b"".join(rebuilt) == inputs[name]

        local = tmp_path / name
        local.write_bytes(inputs[name])
        (reported,) = hf_xet.hash_files([str(local)])
        assert reported.hash == hash_to_hex(info.file_hash)

    for xorb in shard.xorbs:
        _, chunks = xorbs[hash_to_hex(xorb.xorb)]
        offsets = [sum(c.size for c in chunks[:i]) for i in range(len(chunks))]
        assert xorb.chunks == tuple((c.hash, offset, c.size) for c, offset in zip(chunks, offsets, strict=True))
        assert xorb.bytes_in_cas == sum(c.size for c in chunks)

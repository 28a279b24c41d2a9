"""Reads and writes Xet shards: the file reconstructions and xorb chunk lists a client uploads to register files."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from localhub.xet.hashing import HASH_SIZE

# Layout constants of xet-core xet_core_structures/src/metadata_shard/shard_format.rs and file_structs.rs.
HEADER_TAG = b"HFRepoMetaData\x00" + bytes(
    [
        85,
        105,
        103,
        69,
        106,
        123,
        129,
        87,
        131,
        165,
        189,
        217,
        92,
        205,
        209,
        74,
        169,
    ]
)
HEADER_VERSION = 2
FOOTER_VERSION = 1
FOOTER_SIZE = 200
ENTRY_SIZE = 48
FLAG_WITH_VERIFICATION = 1 << 31
FLAG_WITH_METADATA_EXT = 1 << 30
BOOKEND_HASH = b"\xff" * HASH_SIZE
BOOKEND = BOOKEND_HASH + bytes(ENTRY_SIZE - HASH_SIZE)

_HEADER = struct.Struct(f"<{HASH_SIZE}sQQ")
_FILE_HEADER = struct.Struct(f"<{HASH_SIZE}sII8x")
_FILE_ENTRY = struct.Struct(f"<{HASH_SIZE}sIIII")
_HASH_ENTRY = struct.Struct(f"<{HASH_SIZE}s16x")
_XORB_HEADER = struct.Struct(f"<{HASH_SIZE}sIIII")
_XORB_ENTRY = struct.Struct(f"<{HASH_SIZE}sII8x")
_FOOTER_VERSION = struct.Struct("<Q")


class ShardFormatError(ValueError):
    """A shard that does not follow the format."""


@dataclass(frozen=True)
class Term:
    """A run of chunks `[chunk_start, chunk_end)` of a xorb, `size` bytes uncompressed, that a file is made of."""

    xorb: bytes
    chunk_start: int
    chunk_end: int
    size: int


@dataclass(frozen=True)
class FileInfo:
    """How to rebuild one file: `verification` has a hash per term, `sha256` is the digest as hashlib gives it."""

    file_hash: bytes
    terms: tuple[Term, ...]
    verification: tuple[bytes, ...] | None
    sha256: bytes | None


@dataclass(frozen=True)
class XorbInfo:
    """A xorb's chunks as (chunk hash, offset in the xorb's uncompressed bytes, uncompressed size)."""

    xorb: bytes
    chunks: tuple[tuple[bytes, int, int], ...]
    bytes_in_cas: int
    bytes_on_disk: int


@dataclass(frozen=True)
class Shard:
    """The file info and xorb info sections of a shard."""

    files: tuple[FileInfo, ...]
    xorbs: tuple[XorbInfo, ...]


def parse_shard(data: bytes) -> Shard:
    """The files and xorbs of a serialized shard, refusing any deviation from the format."""
    reader = _Reader(memoryview(data))
    tag, version, footer_size = reader.take(_HEADER, "header at byte 0")
    if tag != HEADER_TAG:
        raise ShardFormatError("header at byte 0: tag is not MDB_SHARD_HEADER_TAG")
    if version != HEADER_VERSION:
        raise ShardFormatError(f"header at byte 0: version {version}, expected {HEADER_VERSION}")
    files = _read_files(reader)
    xorbs = _read_xorbs(reader)
    _read_footer(reader, footer_size)
    return Shard(files, xorbs)


def serialize_shard(shard: Shard) -> bytes:
    """The shard as a client uploads it: header, file info and xorb info sections, no footer."""
    parts = [_HEADER.pack(HEADER_TAG, HEADER_VERSION, 0)]
    for info in shard.files:
        flags = (FLAG_WITH_VERIFICATION if info.verification is not None else 0) | (
            FLAG_WITH_METADATA_EXT if info.sha256 is not None else 0
        )
        parts.append(_FILE_HEADER.pack(info.file_hash, flags, len(info.terms)))
        parts += (_FILE_ENTRY.pack(t.xorb, 0, t.size, t.chunk_start, t.chunk_end) for t in info.terms)
        if info.verification is not None:
            if len(info.verification) != len(info.terms):
                raise ValueError(f"{len(info.verification)} verification hashes for {len(info.terms)} terms")
            parts += (_HASH_ENTRY.pack(h) for h in info.verification)
        if info.sha256 is not None:
            parts.append(_HASH_ENTRY.pack(_swap_sha256_words(info.sha256)))
    parts.append(BOOKEND)
    for xorb in shard.xorbs:
        parts.append(_XORB_HEADER.pack(xorb.xorb, 0, len(xorb.chunks), xorb.bytes_in_cas, xorb.bytes_on_disk))
        parts += (_XORB_ENTRY.pack(h, start, size) for h, start, size in xorb.chunks)
    parts.append(BOOKEND)
    return b"".join(parts)


def _read_files(reader: _Reader) -> tuple[FileInfo, ...]:
    files: list[FileInfo] = []
    with_verification: bool | None = None
    while True:
        index, start = len(files), reader.offset
        file_hash, flags, num_entries = reader.take(
            _FILE_HEADER, f"file info section: file {index} or bookend at byte {start}"
        )
        if file_hash == BOOKEND_HASH:
            return tuple(files)
        where = f"file info section: file {index} at byte {start}"
        has_verification = bool(flags & FLAG_WITH_VERIFICATION)
        has_sha256 = bool(flags & FLAG_WITH_METADATA_EXT)
        if with_verification is None:
            with_verification = has_verification
        elif has_verification != with_verification:
            raise ShardFormatError(f"{where}: verification entries must be on every file or on none")
        needed = ENTRY_SIZE * (num_entries * (2 if has_verification else 1) + (1 if has_sha256 else 0))
        if needed > reader.remaining:
            raise ShardFormatError(
                f"{where}: {num_entries} entries need {needed} bytes, only {reader.remaining} remain"
            )
        terms = tuple(
            Term(xorb, chunk_start, chunk_end, size)
            for xorb, _, size, chunk_start, chunk_end in reader.take_many(_FILE_ENTRY, num_entries)
        )
        for term_index, term in enumerate(terms):
            if term.chunk_start >= term.chunk_end:
                raise ShardFormatError(
                    f"{where}: term {term_index}: chunk range [{term.chunk_start}, {term.chunk_end}) holds no chunk"
                )
        verification = None
        if has_verification:
            verification = tuple(h for (h,) in reader.take_many(_HASH_ENTRY, num_entries))
        sha256 = None
        if has_sha256:
            (stored,) = reader.take(_HASH_ENTRY, where)
            sha256 = _swap_sha256_words(stored)
        files.append(FileInfo(file_hash, terms, verification, sha256))


def _read_xorbs(reader: _Reader) -> tuple[XorbInfo, ...]:
    xorbs: list[XorbInfo] = []
    while True:
        index, start = len(xorbs), reader.offset
        xorb, _, num_entries, bytes_in_cas, bytes_on_disk = reader.take(
            _XORB_HEADER, f"xorb info section: xorb {index} or bookend at byte {start}"
        )
        if xorb == BOOKEND_HASH:
            return tuple(xorbs)
        needed = ENTRY_SIZE * num_entries
        if needed > reader.remaining:
            raise ShardFormatError(
                f"xorb info section: xorb {index} at byte {start}: {num_entries} chunks need "
                f"{needed} bytes, only {reader.remaining} remain"
            )
        entries = reader.take_many(_XORB_ENTRY, num_entries)
        chunks = tuple((h, chunk_start, size) for h, chunk_start, size in entries)
        xorbs.append(XorbInfo(xorb, chunks, bytes_in_cas, bytes_on_disk))


def _read_footer(reader: _Reader, footer_size: int) -> None:
    start = reader.offset
    if footer_size == 0:
        if reader.remaining:
            raise ShardFormatError(
                f"footer: {reader.remaining} bytes follow the xorb info section at byte {start} "
                "but the header declares no footer"
            )
        return
    if footer_size != FOOTER_SIZE:
        raise ShardFormatError(f"header at byte 0: footer size {footer_size}, expected 0 or {FOOTER_SIZE}")
    if reader.remaining != FOOTER_SIZE:
        raise ShardFormatError(
            f"footer at byte {start}: {reader.remaining} bytes follow the xorb info section, expected {FOOTER_SIZE}"
        )
    (version,) = _FOOTER_VERSION.unpack_from(reader.data, start)
    if version != FOOTER_VERSION:
        raise ShardFormatError(f"footer at byte {start}: version {version}, expected {FOOTER_VERSION}")


def _swap_sha256_words(digest: bytes) -> bytes:
    # xet-core keeps the SHA-256 as a hash whose string form is the usual hex digest (Sha256::from_be_bytes in
    # xet_data/src/processing/sha256.rs), so each 8-byte word is stored byte-reversed; the swap is its own inverse.
    return struct.pack(">4Q", *struct.unpack("<4Q", digest))


class _Reader:
    """Walks a shard's bytes, naming the section, entry and offset of whatever does not fit."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.offset = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def take(self, layout: struct.Struct, where: str) -> tuple:
        if layout.size > self.remaining:
            raise ShardFormatError(f"{where}: shard ends after {self.remaining} of its {layout.size} bytes")
        values = layout.unpack_from(self.data, self.offset)
        self.offset += layout.size
        return values

    def take_many(self, layout: struct.Struct, count: int) -> list[tuple]:
        end = self.offset + layout.size * count
        values = list(layout.iter_unpack(self.data[self.offset : end]))
        self.offset = end
        return values

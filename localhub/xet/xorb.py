"""Reads serialized xorbs (chunk headers, LZ4 and byte-grouped LZ4 chunk data) and writes their chunk indexes."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import lz4.frame

from localhub.xet.hashing import HASH_SIZE, chunk_hash

CHUNK_HEADER_SIZE = 8
CHUNK_VERSION = 0
COMPRESSION_NONE = 0
COMPRESSION_LZ4 = 1
COMPRESSION_BG4_LZ4 = 2
# Limits of xet-core's chunk header validation (xorb_object/xorb_chunk_format.rs, constants.rs).
MAX_CHUNK_SIZE = 128 * 1024
MAX_COMPRESSED_CHUNK_SIZE = 2 * MAX_CHUNK_SIZE
# The client cuts a xorb at 64 MiB of uncompressed chunk data or 8192 chunks (xet-core xorb_object/constants.rs);
# incompressible chunks, their 8-byte headers and the optional footer (48 bytes a chunk at most) can take the
# serialized xorb past 64 MiB, so the size limit leaves 1 MiB for them.
MAX_XORB_CHUNKS = 8 * 1024
MAX_XORB_SIZE = 65 * 1024 * 1024
FOOTER_IDENT = b"XETBLOB"

INDEX_MAGIC = b"LHXIDX01"
_INDEX_ENTRY = struct.Struct(f"<{HASH_SIZE}sQQI")
_COPY_BLOCK = 1024 * 1024


class XorbFormatError(ValueError):
    """A serialized xorb, or a stored xorb's index, that does not follow the format."""


@dataclass(frozen=True)
class Chunk:
    """One chunk of a serialized xorb: its hash, where its header and data lie, and its uncompressed size."""

    hash: bytes
    start: int
    end: int
    size: int


def read_xorb(source: BinaryIO, length: int, sink: BinaryIO) -> list[Chunk]:
    """Validates the `length` bytes of a serialized xorb from `source` chunk by chunk while copying them to `sink`.

    Each chunk is decompressed and hashed as it passes, so memory holds one chunk at a time. A footer (it starts with
    `XETBLOB`) is copied as it is. Returns the chunks in order; their xorb hash is the caller's to check.
    """
    if length > MAX_XORB_SIZE:
        raise XorbFormatError(f"xorb of {length} bytes is larger than the {MAX_XORB_SIZE} bytes allowed")
    reader = _BoundedReader(source, length)
    chunks: list[Chunk] = []
    while reader.offset < length:
        index, start = len(chunks), reader.offset
        head = reader.read(min(CHUNK_HEADER_SIZE, length - start))
        if head.startswith(FOOTER_IDENT):
            sink.write(head)
            reader.copy_rest(sink)
            break
        if len(head) < CHUNK_HEADER_SIZE:
            raise XorbFormatError(
                f"chunk {index} at byte {start}: header truncated, {len(head)} of {CHUNK_HEADER_SIZE} bytes left"
            )
        if index == MAX_XORB_CHUNKS:
            raise XorbFormatError(f"chunk {index} at byte {start}: a xorb holds at most {MAX_XORB_CHUNKS} chunks")
        where = f"chunk {index} at byte {start}"
        compressed_size, scheme, size = _parse_header(head, where)
        if compressed_size > length - reader.offset:
            raise XorbFormatError(
                f"{where}: data truncated, header says {compressed_size} bytes but {length - reader.offset} remain"
            )
        payload = reader.read(compressed_size)
        data = _decompress(payload, scheme, size, where)
        sink.write(head)
        sink.write(payload)
        chunks.append(Chunk(chunk_hash(data), start, reader.offset, size))
    if not chunks:
        raise XorbFormatError("xorb holds no chunk")
    return chunks


def read_chunks(source: BinaryIO, chunks: Sequence[Chunk]) -> Iterator[bytes]:
    """Yields the uncompressed bytes of a contiguous run of a stored xorb's chunks, one chunk at a time."""
    if not chunks:
        return
    source.seek(chunks[0].start)
    position = chunks[0].start
    for index, chunk in enumerate(chunks):
        where = f"chunk {index} of the run, at byte {chunk.start}"
        if chunk.start != position:
            raise ValueError(f"{where}: the run is not contiguous, the chunk before it ends at byte {position}")
        raw = source.read(chunk.end - chunk.start)
        if len(raw) != chunk.end - chunk.start:
            raise XorbFormatError(f"{where}: stored xorb ends inside the chunk")
        compressed_size, scheme, size = _parse_header(raw[:CHUNK_HEADER_SIZE], where)
        if CHUNK_HEADER_SIZE + compressed_size != len(raw) or size != chunk.size:
            raise XorbFormatError(f"{where}: chunk header disagrees with the xorb's index")
        yield _decompress(raw[CHUNK_HEADER_SIZE:], scheme, size, where)
        position = chunk.end


def encode_index(chunks: Sequence[Chunk]) -> bytes:
    """The compact binary index of a stored xorb's chunks."""
    return INDEX_MAGIC + b"".join(_INDEX_ENTRY.pack(c.hash, c.start, c.end, c.size) for c in chunks)


def decode_index(data: bytes) -> list[Chunk]:
    """The chunks of an index made by `encode_index`."""
    if not data.startswith(INDEX_MAGIC):
        raise XorbFormatError("xorb index does not start with its magic bytes")
    body = memoryview(data)[len(INDEX_MAGIC) :]
    if len(body) % _INDEX_ENTRY.size:
        raise XorbFormatError(f"xorb index of {len(data)} bytes is not a whole number of entries")
    return [Chunk(bytes(h), start, end, size) for h, start, end, size in _INDEX_ENTRY.iter_unpack(body)]


def _parse_header(head: bytes, where: str) -> tuple[int, int, int]:
    version, scheme = head[0], head[4]
    compressed_size = int.from_bytes(head[1:4], "little")
    size = int.from_bytes(head[5:8], "little")
    if version != CHUNK_VERSION:
        raise XorbFormatError(f"{where}: unknown chunk header version {version}")
    if scheme not in (COMPRESSION_NONE, COMPRESSION_LZ4, COMPRESSION_BG4_LZ4):
        raise XorbFormatError(f"{where}: unknown compression type {scheme}")
    if size > MAX_CHUNK_SIZE:
        raise XorbFormatError(f"{where}: uncompressed size {size} is over the {MAX_CHUNK_SIZE}-byte maximum")
    if compressed_size > MAX_COMPRESSED_CHUNK_SIZE:
        raise XorbFormatError(
            f"{where}: compressed size {compressed_size} is over the {MAX_COMPRESSED_CHUNK_SIZE}-byte maximum"
        )
    return compressed_size, scheme, size


def _decompress(payload: bytes, scheme: int, size: int, where: str) -> bytes:
    data = payload if scheme == COMPRESSION_NONE else _lz4_frame(payload, size, where)
    if len(data) != size:
        raise XorbFormatError(f"{where}: data is {len(data)} bytes uncompressed, header says {size}")
    return _bg4_regroup(data) if scheme == COMPRESSION_BG4_LZ4 else data


def _lz4_frame(payload: bytes, size: int, where: str) -> bytes:
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        # One byte over the expected size is enough to tell a lying header; a bomb never gets to allocate more.
        data = decompressor.decompress(payload, max_length=size + 1)
    except RuntimeError as error:
        raise XorbFormatError(f"{where}: invalid LZ4 frame ({error})") from None
    if len(data) > size:
        raise XorbFormatError(f"{where}: data decompresses to more than the {size} bytes its header says")
    if not decompressor.eof:
        raise XorbFormatError(f"{where}: LZ4 frame is incomplete")
    if decompressor.unused_data:
        raise XorbFormatError(f"{where}: {len(decompressor.unused_data)} bytes follow the LZ4 frame")
    return data


def _bg4_regroup(grouped: bytes) -> bytes:
    # Byte grouping stores byte k of every 4-byte word as group k; when the length is not a multiple of 4 the first
    # groups hold one byte more.
    data = bytearray(len(grouped))
    offset = 0
    for k in range(4):
        group_size = len(range(k, len(grouped), 4))
        data[k::4] = grouped[offset : offset + group_size]
        offset += group_size
    return bytes(data)


class _BoundedReader:
    """Reads a request body without ever asking `source` for bytes past its declared length."""

    def __init__(self, source: BinaryIO, length: int) -> None:
        self.source = source
        self.length = length
        self.offset = 0

    def read(self, size: int) -> bytes:
        parts = []
        wanted = size
        while wanted:
            part = self.source.read(wanted)
            if not part:
                raise XorbFormatError(f"body ended after {self.offset} of {self.length} bytes")
            parts.append(part)
            self.offset += len(part)
            wanted -= len(part)
        return b"".join(parts)

    def copy_rest(self, sink: BinaryIO) -> None:
        while self.offset < self.length:
            sink.write(self.read(min(_COPY_BLOCK, self.length - self.offset)))

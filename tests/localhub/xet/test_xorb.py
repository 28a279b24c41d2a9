"""Serialized xorbs: streaming validation, hostile bodies, chunk reads, the index codec and hf_xet's own xorbs."""

from __future__ import annotations

import io
import random
import tracemalloc

import lz4.frame
import pytest

from localhub.xet.hashing import chunk_hash, hash_to_hex, xorb_hash
from localhub.xet.xorb import (
    MAX_CHUNK_SIZE,
    MAX_XORB_CHUNKS,
    MAX_XORB_SIZE,
    Chunk,
    XorbFormatError,
    decode_index,
    encode_index,
    read_chunks,
    read_xorb,
)
from tests.localhub.xet.golden import xorb_paths

NONE, LZ4, BG4_LZ4 = 0, 1, 2


def header(compressed_size: int, scheme: int, size: int, version: int = 0) -> bytes:
    return bytes([version]) + compressed_size.to_bytes(3, "little") + bytes([scheme]) + size.to_bytes(3, "little")


def encode_chunk(data: bytes, scheme: int) -> bytes:
    if scheme == NONE:
        payload = data
    elif scheme == LZ4:
        payload = lz4.frame.compress(data)
    else:
        payload = lz4.frame.compress(b"".join(data[k::4] for k in range(4)))
    return header(len(payload), scheme, len(data)) + payload


def serialize(chunks: list[tuple[bytes, int]]) -> bytes:
    return b"".join(encode_chunk(data, scheme) for data, scheme in chunks)


def sample_chunks(scheme: int) -> list[tuple[bytes, int]]:
    generator = random.Random(scheme)
    # Sizes not a multiple of 4 exercise byte grouping's uneven groups.
    sizes = [0, 1, 2, 3, 5, 4099, 70_001, MAX_CHUNK_SIZE]
    return [((generator.randbytes(16) * (size // 16 + 1))[:size], scheme) for size in sizes]


def parse(body: bytes, length: int | None = None) -> tuple[list[Chunk], bytes]:
    sink = io.BytesIO()
    chunks = read_xorb(io.BytesIO(body), len(body) if length is None else length, sink)
    return chunks, sink.getvalue()


@pytest.mark.parametrize("scheme", [NONE, LZ4, BG4_LZ4])
def test_round_trip_for_each_compression_type(scheme):
    chunks = sample_chunks(scheme)
    body = serialize(chunks)
    parsed, copied = parse(body)
    assert copied == body
    assert [(c.hash, c.size) for c in parsed] == [(chunk_hash(data), len(data)) for data, _ in chunks]
    ends = [len(serialize(chunks[: i + 1])) for i in range(len(chunks))]
    assert [(c.start, c.end) for c in parsed] == list(zip([0, *ends[:-1]], ends, strict=True))


def test_footer_is_copied_and_does_not_change_the_chunks():
    chunks = [(b"x" * 1000, LZ4), (b"y" * 10, NONE)]
    body = serialize(chunks)
    footer = b"XETBLOB\x01" + bytes(range(256)) * 3
    with_footer, copied = parse(body + footer)
    assert copied == body + footer
    assert with_footer == parse(body)[0]


def test_reads_no_byte_past_the_declared_length():
    body = serialize([(b"data", NONE)])
    source = io.BytesIO(body + b"next request")
    read_xorb(source, len(body), io.BytesIO())
    assert source.tell() == len(body)


def test_xorb_hash_of_the_chunks_is_the_tree_over_hash_and_size():
    chunks = sample_chunks(LZ4)
    parsed, _ = parse(serialize(chunks))
    assert xorb_hash([(c.hash, c.size) for c in parsed]) == xorb_hash([(chunk_hash(d), len(d)) for d, _ in chunks])


ONE_CHUNK = encode_chunk(b"0123456789", NONE)
LZ4_PAYLOAD = lz4.frame.compress(b"z" * 100)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "xorb holds no chunk"),
        (b"XETBLOB footer only", "xorb holds no chunk"),
        (ONE_CHUNK + ONE_CHUNK[:5], r"chunk 1 at byte 18: header truncated, 5 of 8 bytes left"),
        (
            ONE_CHUNK + header(100, NONE, 100) + bytes(50),
            r"chunk 1 at byte 18: data truncated, header says 100 bytes but 50 remain",
        ),
        (header(10, NONE, 10, version=1) + bytes(10), r"chunk 0 at byte 0: unknown chunk header version 1"),
        (ONE_CHUNK + header(10, 3, 10) + bytes(10), r"chunk 1 at byte 18: unknown compression type 3"),
        (header(10, NONE, 11) + bytes(10), r"chunk 0 at byte 0: data is 10 bytes uncompressed, header says 11"),
        (
            header(len(LZ4_PAYLOAD), LZ4, 101) + LZ4_PAYLOAD,
            r"chunk 0 at byte 0: data is 100 bytes uncompressed, .* 101",
        ),
        (header(len(LZ4_PAYLOAD), LZ4, 99) + LZ4_PAYLOAD, r"chunk 0 at byte 0: data decompresses to more than the 99"),
        (
            header(len(LZ4_PAYLOAD), BG4_LZ4, 64) + LZ4_PAYLOAD,
            r"chunk 0 at byte 0: data decompresses to more than the 64",
        ),
        (header(len(LZ4_PAYLOAD) - 4, LZ4, 100) + LZ4_PAYLOAD[:-4], r"chunk 0 at byte 0: LZ4 frame is incomplete"),
        (
            header(len(LZ4_PAYLOAD) + 2, LZ4, 100) + LZ4_PAYLOAD + b"!!",
            r"chunk 0 at byte 0: 2 bytes follow the LZ4 frame",
        ),
        (header(20, LZ4, 20) + bytes(20), r"chunk 0 at byte 0: invalid LZ4 frame"),
        (header(10, NONE, MAX_CHUNK_SIZE + 1) + bytes(10), r"chunk 0 at byte 0: uncompressed size 131073 is over"),
        (header(2 * MAX_CHUNK_SIZE + 1, LZ4, 10), r"chunk 0 at byte 0: compressed size 262145 is over"),
        (header(0, NONE, 0) * (MAX_XORB_CHUNKS + 1), r"chunk 8192 at byte 65536: a xorb holds at most 8192 chunks"),
    ],
)
def test_hostile_body_is_refused_with_where_and_what(body, message):
    with pytest.raises(XorbFormatError, match=message):
        parse(body)


def test_decompression_bomb_is_refused_without_inflating_it():
    bomb = lz4.frame.compress(bytes(32 * 1024 * 1024))
    body = header(len(bomb), LZ4, 100) + bomb
    tracemalloc.start()
    try:
        with pytest.raises(XorbFormatError, match="decompresses to more than the 100 bytes"):
            parse(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_body_shorter_than_its_length_is_refused():
    body = serialize([(b"a" * 100, NONE), (b"b" * 100, LZ4)])
    with pytest.raises(XorbFormatError, match=f"body ended after {len(body)} of {len(body) + 10} bytes"):
        parse(body, len(body) + 10)


def test_body_longer_than_a_xorb_is_refused_before_reading():
    source = io.BytesIO(b"never read")
    with pytest.raises(XorbFormatError, match=f"larger than the {MAX_XORB_SIZE} bytes"):
        read_xorb(source, MAX_XORB_SIZE + 1, io.BytesIO())
    assert source.tell() == 0


def test_read_chunks_returns_a_middle_run(tmp_path):
    datas = [(bytes([i]) * (1000 + i) + b"%d" % i, scheme) for i, scheme in enumerate([NONE, LZ4, BG4_LZ4, LZ4, NONE])]
    stored = tmp_path / "stored.xorb"
    with stored.open("wb") as sink:
        chunks = read_xorb(io.BytesIO(serialize(datas)), len(serialize(datas)), sink)
    with stored.open("rb") as source:
        assert list(read_chunks(source, chunks[1:4])) == [data for data, _ in datas[1:4]]


def test_read_chunks_refuses_a_run_with_a_gap(tmp_path):
    body = serialize([(b"a", NONE), (b"b", NONE), (b"c", NONE)])
    chunks, _ = parse(body)
    with pytest.raises(ValueError, match=r"chunk 1 of the run, at byte 18: .* the chunk before it ends at byte 9"):
        list(read_chunks(io.BytesIO(body), [chunks[0], chunks[2]]))


def test_index_round_trips_and_refuses_damage():
    chunks, _ = parse(serialize(sample_chunks(BG4_LZ4)))
    index = encode_index(chunks)
    assert decode_index(index) == chunks
    with pytest.raises(XorbFormatError, match="not a whole number of entries"):
        decode_index(index[:-1])
    with pytest.raises(XorbFormatError, match="magic"):
        decode_index(b"X" + index[1:])


@pytest.mark.parametrize("path", xorb_paths(), ids=lambda path: path.name[:12])
def test_xorbs_uploaded_by_hf_xet_hash_to_their_name(path, tmp_path):
    body = path.read_bytes()
    chunks, copied = parse(body)
    assert copied == body
    assert hash_to_hex(xorb_hash([(c.hash, c.size) for c in chunks])) == path.stem
    with path.open("rb") as source:
        assert [len(data) for data in read_chunks(source, chunks)] == [c.size for c in chunks]


def test_hf_xet_fixtures_cover_every_compression_type():
    schemes = set()
    for path in xorb_paths():
        body = path.read_bytes()
        schemes |= {body[c.start + 4] for c in parse(body)[0]}
    assert schemes == {NONE, LZ4, BG4_LZ4}

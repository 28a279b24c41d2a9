"""Xet hashes: their string form, the aggregated hash tree's shape, and values hf_xet 1.8.0 computed."""

from __future__ import annotations

import random

import pytest
from blake3 import blake3

from localhub.xet.hashing import (
    INTERNAL_NODE_KEY,
    ZERO_HASH,
    chunk_hash,
    file_hash,
    hash_to_hex,
    hex_to_hash,
    xorb_hash,
)

# Hashes hf_xet 1.8.0 reported when uploading b"hello" (its xorb holds one chunk, so the xorb hash is the chunk
# hash) and b"" (see tests/data/xet/README.md).
HELLO_CHUNK = "9076ba12d998050b9c95c8bf770f943e6cad55c7490a82b76cf1582a2a05c2c2"
HELLO_FILE = "48a3213a086cad271381aafe47232eb5df291a963cebbfec071972eff45eb422"


def test_hash_string_reads_each_8_byte_word_as_little_endian():
    # The example of api.md, "Converting Hashes to Strings", whose printed string lost the "10" of the third word.
    text = "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert hash_to_hex(bytes(range(32))) == text
    assert hex_to_hash(text) == bytes(range(32))


def test_hash_string_round_trips():
    generator = random.Random(7)
    for _ in range(20):
        raw = generator.randbytes(32)
        assert hex_to_hash(hash_to_hex(raw)) == raw
        assert hex_to_hash(hash_to_hex(raw).upper()) == raw


@pytest.mark.parametrize(
    "text",
    [
        "0" * 63,
        "0" * 65,
        "g" + "0" * 63,
        "0x" + "0" * 62,
        "+" + "0" * 63,
        "0_" + "0" * 62,
        " " + "0" * 63,
        "0" * 64 + "\n",
        "\u0660" * 64,  # Arabic-Indic zeros, which int(text, 16) would take
    ],
)
def test_hex_to_hash_refuses_anything_but_64_hex_digits(text):
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        hex_to_hash(text)


def test_hash_to_hex_refuses_a_wrong_length():
    with pytest.raises(ValueError, match="32 bytes"):
        hash_to_hex(bytes(31))


def test_chunk_and_file_hash_agree_with_hf_xet():
    chunk = chunk_hash(b"hello")
    assert hash_to_hex(chunk) == HELLO_CHUNK
    assert hash_to_hex(xorb_hash([(chunk, 5)])) == HELLO_CHUNK
    assert hash_to_hex(file_hash([(chunk, 5)])) == HELLO_FILE


def test_empty_xorb_and_empty_file_hash_to_zeros():
    assert xorb_hash([]) == ZERO_HASH
    assert file_hash([]) == ZERO_HASH


def _leaf(seed: int, closes_group: bool) -> tuple[bytes, int]:
    # The tree cuts after a node whose last little-endian u64 is 0 mod 4: byte 24 holds that word's low bits.
    raw = bytearray(blake3(seed.to_bytes(8, "little")).digest())
    raw[24] = (raw[24] & 0xFC) | (0 if closes_group else 1)
    return bytes(raw), 1000 + seed


def _parent(children: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    def string(raw: bytes) -> str:
        return "".join(raw[i : i + 8][::-1].hex() for i in range(0, 32, 8))

    lines = "".join(f"{string(h)} : {size}\n" for h, size in children)
    return blake3(lines.encode(), key=INTERNAL_NODE_KEY).digest(), sum(size for _, size in children)


def test_a_closing_hash_at_index_2_or_later_ends_its_group():
    leaves = [_leaf(i, closes) for i, closes in enumerate([True, True, False, True, False, False])]
    # Closing hashes at indexes 0 and 1 are ignored: a group has at least 2 children.
    expected = _parent([_parent(leaves[:4]), _parent(leaves[4:])])
    assert xorb_hash(leaves) == expected[0]


def test_a_group_without_closing_hash_stops_at_9_children():
    leaves = [_leaf(i, False) for i in range(12)]
    expected = _parent([_parent(leaves[:9]), _parent(leaves[9:])])
    assert xorb_hash(leaves) == expected[0]


def test_parents_are_grouped_again_until_one_root_remains():
    leaves = [_leaf(i, False) for i in range(20)]
    # Three parents make one group whatever their hashes: a group of 3 can only be cut after its third node.
    expected = _parent([_parent(leaves[:9]), _parent(leaves[9:18]), _parent(leaves[18:])])
    assert xorb_hash(leaves) == expected[0]


def test_file_hash_is_not_the_xorb_hash():
    leaves = [_leaf(i, False) for i in range(3)]
    assert file_hash(leaves) == blake3(xorb_hash(leaves), key=bytes(32)).digest()

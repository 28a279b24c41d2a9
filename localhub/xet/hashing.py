"""Computes Xet chunk, xorb, file and term verification hashes, and converts hashes to and from their strings."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

from blake3 import blake3

HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)

# The blake3 keys of xet-core: DATA_KEY and INTERNAL_NODE_HASH in xet_core_structures/src/merklehash/data_hash.rs,
# VERIFICATION_KEY in xet_core_structures/src/metadata_shard/chunk_verification.rs (also listed in hashing.md).
DATA_KEY = bytes(
    [
        102,
        151,
        245,
        119,
        91,
        149,
        80,
        222,
        49,
        53,
        203,
        172,
        165,
        151,
        24,
        28,
        157,
        228,
        33,
        16,
        155,
        235,
        43,
        88,
        180,
        208,
        176,
        75,
        147,
        173,
        242,
        41,
    ]
)
INTERNAL_NODE_KEY = bytes(
    [
        1,
        126,
        197,
        199,
        165,
        71,
        41,
        150,
        253,
        148,
        102,
        102,
        180,
        138,
        2,
        230,
        93,
        221,
        83,
        111,
        55,
        199,
        109,
        210,
        248,
        99,
        82,
        230,
        74,
        83,
        113,
        63,
    ]
)
VERIFICATION_KEY = bytes(
    [
        127,
        24,
        87,
        214,
        206,
        86,
        237,
        102,
        18,
        127,
        249,
        19,
        231,
        165,
        195,
        243,
        164,
        205,
        38,
        213,
        181,
        219,
        73,
        230,
        65,
        36,
        152,
        127,
        40,
        251,
        148,
        195,
    ]
)
# file_hash in aggregated_hashes.rs is the salted file hash with an all-zero salt.
FILE_HASH_KEY = ZERO_HASH

# Shape of the aggregated hash tree (aggregated_hashes.rs): a node has 2 to 2 * 4 + 1 children, and a child whose
# hash is 0 mod 4 closes its group, so nodes average 4 children.
TREE_BRANCHING_FACTOR = 4
MIN_GROUP_SIZE = 2
MAX_GROUP_SIZE = 2 * TREE_BRANCHING_FACTOR + 1

_HASH_WORDS = struct.Struct("<4Q")
_HASH_STRING = re.compile(r"[0-9a-fA-F]{64}")


def hash_to_hex(raw: bytes) -> str:
    """The string form of a hash: each 8-byte word read as a little-endian u64, printed as 16 hex digits."""
    if len(raw) != HASH_SIZE:
        raise ValueError(f"a Xet hash is {HASH_SIZE} bytes, got {len(raw)}")
    return "".join(f"{word:016x}" for word in _HASH_WORDS.unpack(raw))


def hex_to_hash(text: str) -> bytes:
    """The raw 32 bytes of a hash string made by `hash_to_hex`."""
    if not _HASH_STRING.fullmatch(text):
        raise ValueError(f"a Xet hash string is 64 hexadecimal digits, got {text!r}")
    return _HASH_WORDS.pack(*(int(text[i : i + 16], 16) for i in range(0, 64, 16)))


def chunk_hash(data: bytes) -> bytes:
    """The hash of one chunk's uncompressed bytes."""
    return blake3(data, key=DATA_KEY).digest()


def xorb_hash(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    """The root of the aggregated hash tree over (chunk hash, uncompressed size) pairs; 32 zero bytes if empty."""
    nodes = list(chunks)
    if not nodes:
        return ZERO_HASH
    while len(nodes) > 1:
        parents = []
        start = 0
        while start < len(nodes):
            end = start + _group_length(nodes, start)
            parents.append(_internal_node(nodes[start:end]))
            start = end
        nodes = parents
    return nodes[0][0]


def file_hash(chunks: Sequence[tuple[bytes, int]]) -> bytes:
    """The hash identifying a file made of these (chunk hash, uncompressed size) pairs; 32 zero bytes if empty."""
    if not chunks:
        return ZERO_HASH
    return blake3(xorb_hash(chunks), key=FILE_HASH_KEY).digest()


def verification_hash(chunk_hashes: Sequence[bytes]) -> bytes:
    """The hash a shard's FileVerificationEntry carries for a term made of these chunks."""
    return blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()


def _group_length(nodes: list[tuple[bytes, int]], start: int) -> int:
    remaining = len(nodes) - start
    if remaining <= MIN_GROUP_SIZE:
        return remaining
    longest = min(MAX_GROUP_SIZE, remaining)
    for i in range(MIN_GROUP_SIZE, longest):
        if _closes_group(nodes[start + i][0]):
            return i + 1
    return longest


def _closes_group(node_hash: bytes) -> bool:
    # xet-core takes the hash modulo the branching factor as its last little-endian u64 word.
    return int.from_bytes(node_hash[24:32], "little") % TREE_BRANCHING_FACTOR == 0


def _internal_node(children: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    lines = "".join(f"{hash_to_hex(child)} : {size}\n" for child, size in children)
    return blake3(lines.encode("ascii"), key=INTERNAL_NODE_KEY).digest(), sum(size for _, size in children)

"""The release manifest (one row per released id: its split and matching keys) and the id and key algorithm it pins.

Matching key (algorithm `nyu-enfr-v1`), applied to each side of an NFC, whitespace-collapsed pair:

1. case folding: Unicode lower-casing (Arrow's `utf8_lower`), then ß → ss, ς → σ, ſ → s and the ﬀ ﬁ ﬂ ﬃ ﬄ
   ligatures spelled out. This is `str.casefold` on Latin and Greek letters, at a fraction of its cost, except on
   what casefold maps to other letters: the micro sign µ and the Greek symbol forms ϐ ϑ ϕ ϖ ϰ ϱ ϵ, which keep
   their own keys, and ΐ ΰ, which it spells out;
2. typographic variants become their ASCII form: apostrophes ’ ‘ ‛ ` ´ ʼ ′ → ', quotes « » “ ” „ ‟ ″ → ",
   dashes ‐ ‑ ‒ – — ― − → -, the ellipsis … → ..., and no-break, narrow, figure, thin and hair spaces → a space;
3. no space next to a quote, before ? ! : ; ) or after (, so French and English spacing of punctuation agree;
   runs of spaces become one (validated text has no others);
4. leading spaces, and trailing sentence punctuation (. ! ? ; : ,) and spaces, are dropped (a side can start
   with a space once step 2 has made a no-break space one).

Two rows are duplicates when both their keys are equal. The id of a row is

    "nyu-enfr-v1:" + hex(sha256(b"nyu-enfr-v1\\n" + sha256(english_key) + sha256(french_key))[:12])

(keys UTF-8 encoded), so it depends only on the keys: identical on every machine, Python version and run,
and shared by a row and all its duplicates. The manifest records, for each released id, its split, the sha256
digests of its two keys and of its content, so the manifest alone is enough to check every id, to pin splits in
the next release and to tell which rows changed; keeping digests rather than the keys' text keeps it a fraction
of the size of the corpus it describes. The 96-bit truncation makes a collision among n distinct pairs
happen with probability below n² / 2⁹⁷: about 2·10⁻¹⁶ for 5 million pairs. Changing anything above is a new
algorithm with a new prefix, so its ids can never be mistaken for these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.arrow import rewrite_where

ALGORITHM = "nyu-enfr-v1"
ID_PREFIX = ALGORITHM + ":"
ID_BYTES = 12
MANIFEST_FILE = "manifest.parquet"

DIGEST_BYTES = 32
SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("english_key_sha256", pa.binary(DIGEST_BYTES), nullable=False),
        pa.field("french_key_sha256", pa.binary(DIGEST_BYTES), nullable=False),
        pa.field("content_sha256", pa.binary(DIGEST_BYTES), nullable=False),
    ]
)

_VARIANTS: tuple[tuple[str, str], ...] = tuple(
    (variant, plain)
    for variants, plain in (
        ("\u00a0\u202f\u2007\u2009\u200a", " "),
        ("’‘‛´ʼ′", "'"),
        ("«»“”„‟″", '"'),
        ("‐‑‒–—―−", "-"),
    )
    for variant in variants
) + (
    ("…", "..."),
    ("ß", "ss"),
    ("ς", "σ"),
    ("ſ", "s"),
    ("ﬀ", "ff"),
    ("ﬁ", "fi"),
    ("ﬂ", "fl"),
    ("ﬃ", "ffi"),
    ("ﬄ", "ffl"),
)
_VARIANTS += (("`", "'"),)
_VARIANT = "[" + "".join(f"\\x{{{ord(variant[0]):x}}}" for variant, _ in _VARIANTS) + "]"
# Step 3 in RE2: a space before one of ?!:;)" goes, then a space after ( or ". On text with single spaces this is
# what replacing each spaced mark in turn gives.
_SPACED_BEFORE, _SPACED_AFTER = r' ([?!:;)"])', r'([("]) '
_TRAILING = " .!?;:,"
_ID_SALT = ALGORITHM.encode() + b"\n"


def matching_key(text: str) -> str:
    """The normalised form of one side under which rows count as duplicates and are grouped (see the module doc)."""
    return matching_keys(pa.array([text], pa.string()))[0].as_py()


def matching_keys(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`matching_key` of every text, vectorised in Arrow; only texts with a typographic variant visit Python."""
    keys = pc.utf8_lower(texts)
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    keys = rewrite_where(
        keys,
        pc.match_substring_regex(keys, _VARIANT),
        lambda varied: pa.array([_plain(text) for text in varied.to_pylist()], pa.string()),
    )
    keys = rewrite_where(keys, pc.match_substring_regex(keys, f"{_SPACED_BEFORE}|{_SPACED_AFTER}"), _tightened)
    return pc.utf8_ltrim(pc.utf8_rtrim(keys, characters=_TRAILING), characters=" ")


def _tightened(keys: pa.Array) -> pa.Array:
    """Step 3's spacing on keys that have a spaced mark."""
    return pc.replace_substring_regex(pc.replace_substring_regex(keys, _SPACED_BEFORE, r"\1"), _SPACED_AFTER, r"\1")


def _plain(text: str) -> str:
    """Step 2 on one text: its typographic variants in ASCII form, and single spaces again."""
    for variant, plain in _VARIANTS:
        if variant in text:
            text = text.replace(variant, plain)
    # Validated text has single spaces; the mapped no-break spaces can make doubles again.
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def side_digests(keys: pa.Array | list[str]) -> list[bytes]:
    """sha256 of each matching key, UTF-8 encoded (see `digest_array` for the manifest's column)."""
    encoded = keys.cast(pa.binary()).to_pylist() if isinstance(keys, pa.Array) else [key.encode() for key in keys]
    sha256 = hashlib.sha256
    return [sha256(key).digest() for key in encoded]


def id_digests(english_digests: list[bytes], french_digests: list[bytes]) -> list[bytes]:
    """The truncated id hash of each pair, from the sha256 digests of its two keys."""
    sha256, salt = hashlib.sha256, _ID_SALT
    return [
        sha256(salt + english + french).digest()[:ID_BYTES]
        for english, french in zip(english_digests, french_digests, strict=True)
    ]


def digest_array(digests: list[bytes], width: int = DIGEST_BYTES) -> pa.FixedSizeBinaryArray:
    """Digests of `width` bytes as an Arrow array, from one joined buffer rather than one Python object per row."""
    return pa.Array.from_buffers(pa.binary(width), len(digests), [None, pa.py_buffer(b"".join(digests))])


def key_digest(text: str) -> bytes:
    """The manifest's digest of one side's text: sha256 of its matching key, to look a text up in a manifest."""
    (digest,) = side_digests([matching_key(text)])
    return digest


def row_id(english_key: str, french_key: str) -> str:
    (digest,) = id_digests(side_digests([english_key]), side_digests([french_key]))
    return ID_PREFIX + digest.hex()


def content_digests(english: pa.Array | pa.ChunkedArray, french: pa.Array | pa.ChunkedArray) -> pa.FixedSizeBinaryArray:
    """`content_sha256` of each row: the sha256 of its released text, `english + "\n" + french` in UTF-8, so that a
    later release can tell a row whose text was edited. The sides are joined in Arrow, not row by row in Python."""
    joined = pc.binary_join_element_wise(english, french, "\n").cast(pa.binary())
    sha256 = hashlib.sha256
    return digest_array([sha256(text).digest() for text in joined.to_pylist()])


def build_manifest(rows: pa.Table | pa.RecordBatch) -> pa.Table:
    """The manifest of released rows, sorted by id; the rows need the manifest's columns (see `SCHEMA`)."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
    return table.select(SCHEMA.names).cast(SCHEMA).sort_by("id")


class ManifestError(Exception):
    """The previous manifest cannot be used; the message names the file and what is wrong."""


def read_manifest(path: Path, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """Streams a manifest file, checked against `SCHEMA` and the id algorithm before any row is used."""
    try:
        file = pq.ParquetFile(path)
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: no such manifest; set split.previous_manifest to the previous release's "
            f"{MANIFEST_FILE}, or to null for a first release"
        ) from None
    except pa.ArrowInvalid as exc:
        raise ManifestError(f"{path}: not a parquet manifest ({exc})") from None
    missing = [name for name in SCHEMA.names if name not in file.schema_arrow.names]
    if missing:
        raise ManifestError(
            f"{path}: missing manifest columns {', '.join(missing)}; expected {', '.join(SCHEMA.names)}"
        )
    for batch in file.iter_batches(batch_size=batch_rows, columns=SCHEMA.names):
        batch = batch.cast(SCHEMA) if batch.schema != SCHEMA else batch
        foreign = pc.invert(pc.starts_with(batch["id"], ID_PREFIX))
        if pc.any(foreign).as_py():
            example = pc.filter(batch["id"], foreign)[0].as_py()
            raise ManifestError(
                f"{path}: id {example!r} was not made by {ALGORITHM}; its splits cannot be pinned "
                "by this algorithm's keys"
            )
        yield batch

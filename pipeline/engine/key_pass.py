"""Split's first pass: reads the validated rows; appends them, keyed, to scratch files by bucket; returns their hashes.

Each task is one row group of the input: the worker that takes it writes the group's keyed rows, cut into id-range
buckets, to a scratch part of its own, and returns the 64-bit hashes of the group's keys and ids.

Keying a row adds its id, the sha256 digests of its matching keys and of its content (`schema.manifest`), and its
position in the input. Only the hashes and where the spilled messages are travel back from the workers: the text
stays in the scratch folder, one part per row group.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.engine.buckets import KEYED, Messages, spill_by_bucket
from pipeline.io import Progress
from pipeline.parallel import Part, Workers, parts
from pipeline.scratch import Scratch
from schema.manifest import (
    ID_BYTES,
    ID_PREFIX,
    content_digests,
    digest_array,
    id_digests,
    matching_keys,
    side_digests,
)

# The columns of the validated rows the pass reads.
INPUT_COLUMNS = ["source", "line", "english", "french", "flags"]
# Rows keyed at once: a batch, its keyed rows and their gather by bucket are held together, so this bounds what the
# first pass holds per process.
BATCH_ROWS = 32_768


@dataclass(frozen=True)
class RowHashes:
    """Per input row: 64-bit prefixes of the English key, French key and id hashes."""

    english: np.ndarray
    french: np.ndarray
    id: np.ndarray

    @classmethod
    def joined(cls, batches: list[RowHashes]) -> RowHashes:
        """The hashes of consecutive batches, end to end."""
        return cls(
            *(
                np.concatenate([getattr(batch, name) for batch in batches] or [np.empty(0, np.uint64)])
                for name in ("english", "french", "id")
            )
        )


def prefix64(digests: pa.FixedSizeBinaryArray | pa.ChunkedArray) -> np.ndarray:
    """The first 8 bytes of each digest as a big-endian unsigned integer."""
    if isinstance(digests, pa.ChunkedArray):
        digests = digests.combine_chunks()
    width = digests.type.byte_width
    data = np.frombuffer(
        digests.buffers()[1], dtype=np.uint8, count=len(digests) * width, offset=digests.offset * width
    )
    return data.reshape(-1, width)[:, :8].copy().view(">u8")[:, 0].astype(np.uint64)


def key_batch(batch: pa.RecordBatch, first_row: int) -> tuple[pa.RecordBatch, RowHashes]:
    """Adds `id`, the digests of the matching keys, `content_sha256` and the input position `row` to validated rows,
    with their hashes."""
    english_digests = side_digests(matching_keys(batch["english"]))
    french_digests = side_digests(matching_keys(batch["french"]))
    ids = id_digests(english_digests, french_digests)
    english, french = digest_array(english_digests), digest_array(french_digests)
    keyed = pa.record_batch(
        [
            pc.binary_join_element_wise(ID_PREFIX, pa.array([digest.hex() for digest in ids], pa.string()), ""),
            batch["source"],
            batch["line"],
            batch["english"],
            batch["french"],
            batch["flags"],
            english,
            french,
            content_digests(batch["english"], batch["french"]),
            pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)),
        ],
        schema=KEYED,
    )
    return keyed, RowHashes(prefix64(english), prefix64(french), prefix64(digest_array(ids, ID_BYTES)))


def key_part(part: Part, bits: int) -> tuple[str, RowHashes, list[Messages]]:
    """Keys one row group and writes it to a scratch part, one IPC message per bucket met in each input batch.
    Returns the part's name, the group's hashes and, for each bucket, where its messages are in the part."""
    batch_hashes: list[RowHashes] = []
    messages: list[Messages] = [[] for _ in range(1 << bits)]
    with part.scratch.messages(part.name("keyed")) as spill:
        for batch in part.batches(BATCH_ROWS, INPUT_COLUMNS):
            keyed, hashes = key_batch(batch, part.first_row + sum(len(done.id) for done in batch_hashes))
            batch_hashes.append(hashes)
            spill_by_bucket(keyed, hashes.id, bits, spill, messages)
    return part.name("keyed"), RowHashes.joined(batch_hashes), messages


@dataclass(frozen=True)
class KeyedInput:
    """What the first pass leaves: per scratch part, where each bucket's messages are; and the hashes of every input
    row by column ("english", "french", "id"), which their last users take out of `hashes`, so that each column is
    freed once it has been used."""

    spilled: list[tuple[str, list[Messages]]]
    hashes: dict[str, np.ndarray]


def key_input(source: Path, scratch: Scratch, bits: int, workers: Workers, progress: Progress) -> KeyedInput:
    """Keys every row group of `source` on `workers`, spilling to `scratch` in `1 << bits` buckets."""
    collected: dict[str, list[np.ndarray]] = {"id": [], "english": [], "french": []}
    spilled: list[tuple[str, list[Messages]]] = []
    for part, hashes, messages in workers.map(partial(key_part, bits=bits), parts(source, scratch)):
        for name, values in collected.items():
            values.append(getattr(hashes, name))
        spilled.append((part, messages))
        progress.update(sum(map(len, collected["id"])))
    # Each column's parts are dropped as soon as they are joined, so that only one column is held twice at a time.
    return KeyedInput(
        spilled, {name: np.concatenate(collected.pop(name) or [np.empty(0, np.uint64)]) for name in list(collected)}
    )

"""Tests of pipeline/engine/key_pass.py: keyed rows and their hashes are the manifest's digests, and the pass
spills every row once, in the bucket of its id, whatever the workers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.engine.buckets import KEYED, bucket_of
from pipeline.engine.key_pass import key_batch, key_input, key_part, prefix64
from pipeline.io import Progress
from pipeline.parallel import Workers, parts
from pipeline.scratch import Scratch
from schema.manifest import ID_PREFIX, key_digest, matching_key, row_id
from schema.params import EngineParams

WORDS = [
    "Week 1",
    "WEEK 1.",
    "Semaine 1",
    "L’énergie",
    "l'énergie !",
    "« Attention »",
    '"attention"',
    "x + y",
    "Pourquoi ?",
    "Straße",
    "ΣΟΦΙΑ",
    "gradient—descent",
]


def _u64(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "big")


def validated_batch(pairs: list[tuple[str, str]]) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "source": pa.array(["raw.csv"] * len(pairs), pa.string()),
            "line": pa.array(range(2, len(pairs) + 2), pa.int64()),
            "english": pa.array([english for english, _ in pairs], pa.string()),
            "french": pa.array([french for _, french in pairs], pa.string()),
            "flags": pa.array([[] for _ in pairs], pa.list_(pa.string())),
        }
    )


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)), min_size=1, max_size=20), st.integers(0, 10**6)
)
def test_keyed_rows_and_hashes_are_the_manifest_digests(pairs: list[tuple[str, str]], first_row: int) -> None:
    keyed, hashes = key_batch(validated_batch(pairs), first_row)
    assert keyed.schema == KEYED
    for index, row in enumerate(keyed.to_pylist()):
        english, french = pairs[index]
        assert row["id"] == row_id(matching_key(english), matching_key(french))
        assert row["english_key_sha256"] == key_digest(english)
        assert row["french_key_sha256"] == key_digest(french)
        assert row["content_sha256"] == hashlib.sha256(f"{english}\n{french}".encode()).digest()
        assert (row["line"], row["english"], row["french"], row["flags"]) == (index + 2, english, french, [])
        assert row["row"] == first_row + index
        assert hashes.english[index] == _u64(key_digest(english))
        assert hashes.french[index] == _u64(key_digest(french))
        assert hashes.id[index] == _u64(bytes.fromhex(row["id"].removeprefix(ID_PREFIX)))


def test_prefix64_reads_the_first_eight_bytes_big_endian_of_any_slice() -> None:
    digests = [hashlib.sha256(str(index).encode()).digest() for index in range(6)]
    array = pa.array(digests, pa.binary(32))
    assert prefix64(array).tolist() == [_u64(digest) for digest in digests]
    assert prefix64(array.slice(2, 3)).tolist() == [_u64(digest) for digest in digests[2:5]]
    assert prefix64(pa.chunked_array([array.slice(0, 2), array.slice(4)])).tolist() == [
        _u64(digest) for digest in digests[:2] + digests[4:]
    ]
    assert prefix64(pa.array([], pa.binary(32))).dtype == np.uint64


def _source(path: Path, rows: int, row_group_rows: int) -> Path:
    pairs = [(f"{WORDS[index % len(WORDS)]} {index // 3}", f"phrase {index % 50}") for index in range(rows)]
    pq.write_table(pa.Table.from_batches([validated_batch(pairs)]), path, row_group_size=row_group_rows)
    return path


def test_each_row_group_is_spilled_to_a_part_of_its_own_each_row_once_in_its_bucket(tmp_path: Path) -> None:
    source = _source(tmp_path / "validated.parquet", 500, 120)
    bits = 3
    scratch = Scratch(str(tmp_path))
    results = [key_part(part, bits) for part in parts(source, scratch)]
    assert len(results) == 5 and len({name for name, _, _ in results}) == 5
    whole, expected = key_batch(pq.read_table(source).combine_chunks().to_batches()[0], 0)
    ids = np.concatenate([hashes.id for _, hashes, _ in results])
    assert ids.tolist() == expected.id.tolist()
    assert np.concatenate([hashes.english for _, hashes, _ in results]).tolist() == expected.english.tolist()
    spilled_rows = []
    for name, _, messages in results:
        for index, bucket_messages in enumerate(messages):
            for batch in scratch.read_messages(name, bucket_messages, KEYED):
                rows = batch["row"].to_numpy()
                assert (bucket_of(ids[rows], bits) == index).all()
                assert batch.equals(whole.take(pa.array(rows)))
                spilled_rows += rows.tolist()
    assert sorted(spilled_rows) == list(range(500))


@pytest.mark.parametrize("workers", [1, 2])
def test_key_input_holds_every_rows_hashes_in_input_order(tmp_path: Path, workers: int) -> None:
    source = _source(tmp_path / "validated.parquet", 400, 64)
    with Workers(EngineParams(workers=workers)) as pool:
        keyed = key_input(source, Scratch(str(tmp_path)), 2, pool, Progress("test"))
    _, expected = key_batch(pq.read_table(source).combine_chunks().to_batches()[0], 0)
    assert list(keyed.hashes) == ["id", "english", "french"]
    for name in keyed.hashes:
        assert keyed.hashes[name].tolist() == getattr(expected, name).tolist()
    assert len(keyed.spilled) == 7
    assert all(len(messages) == 4 for _, messages in keyed.spilled)
    assert all((tmp_path / name).is_file() for name, _ in keyed.spilled)

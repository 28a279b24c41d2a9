"""Tests of pipeline/scratch.py: parts read back as written, complete or absent, on a path or an fsspec URL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.scratch import Scratch

BATCHES = [pa.record_batch([pa.array(range(index, index + 3))], names=["n"]) for index in range(4)]


@pytest.fixture(params=["path", "url"])
def scratch(request, tmp_path) -> Scratch:
    # memory:// goes through fsspec and Arrow's wrapper of it, as s3:// would.
    return Scratch(str(tmp_path)) if request.param == "path" else Scratch(f"memory://scratch-{uuid.uuid4().hex}")


def test_a_batch_part_reads_back_whole_then_is_gone(scratch):
    scratch.write_batches("part-1.arrow", BATCHES, BATCHES[0].schema)
    read = list(scratch.read_batches("part-1.arrow"))
    assert len(read) == 4 and all(batch.equals(expected) for batch, expected in zip(read, BATCHES, strict=True))
    with pytest.raises(FileNotFoundError):
        next(scratch.read_batches("part-1.arrow"))


def test_messages_read_back_in_the_order_asked(scratch):
    with scratch.messages("keyed") as spill:
        where = [spill.append(batch) for batch in BATCHES]
    read = scratch.read_messages("keyed", [where[3], where[0], where[2]], BATCHES[0].schema)
    assert [batch.equals(BATCHES[index]) for batch, index in zip(read, [3, 0, 2], strict=True)] == [True] * 3
    assert scratch.read_messages("absent", [], BATCHES[0].schema) == []


def test_report_lines_read_back_in_order(scratch):
    records = [{"line": line, "message": "é" * line} for line in range(1, 2000)]
    scratch.write_lines("rejects", records)
    assert list(scratch.read_lines("rejects")) == records


def test_a_part_whose_writer_fails_is_absent(tmp_path):
    scratch = Scratch(str(tmp_path))

    def failing():
        yield BATCHES[0]
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        scratch.write_batches("part.arrow", failing(), BATCHES[0].schema)
    assert list(tmp_path.iterdir()) == []


def test_a_retried_part_is_rewritten_whole(tmp_path):
    scratch = Scratch(str(tmp_path))
    scratch.write_batches("part.arrow", BATCHES, BATCHES[0].schema)
    scratch.write_batches("part.arrow", BATCHES[:1], BATCHES[0].schema)
    assert [batch.num_rows for batch in scratch.read_batches("part.arrow")] == [3]


@pytest.mark.parametrize("root", [None, "scratch-root"])
def test_a_run_gets_a_folder_of_its_own_removed_at_the_end(tmp_path, monkeypatch, root):
    monkeypatch.chdir(tmp_path)
    with (
        Scratch.made(root, tmp_path / "out", "validate") as first,
        Scratch.made(root, tmp_path / "out", "validate") as second,
    ):
        assert first.location != second.location
        assert Path(first.location).is_absolute() and Path(first.location).is_dir()
        first.write_batches("a.arrow", BATCHES, BATCHES[0].schema)
    assert not Path(first.location).exists() and not Path(second.location).exists()

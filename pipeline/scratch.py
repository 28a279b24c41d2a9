"""Reads and writes the work parts of the parallel passes, in a scratch folder every worker reaches: a local path or
an fsspec URL (`engine.scratch`).

A part is complete or absent: it is written under a name of its own and then moved to the part's name, so a worker
that dies mid-part leaves no part behind, and the task retried elsewhere writes it again whole.
"""

from __future__ import annotations

import functools
import json
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from pipeline.io import json_line

# Bytes read at a time from a part of report lines.
_LINES_BLOCK = 1 << 20


@functools.cache
def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The Arrow file system of a path or an fsspec URL, and the path within it; one per process and location."""
    if "://" not in location:
        return pafs.LocalFileSystem(use_mmap=True), location
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    filesystem, path = fsspec.core.url_to_fs(location)
    if isinstance(filesystem, LocalFileSystem):
        return pafs.LocalFileSystem(use_mmap=True), path
    return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), path


@dataclass(frozen=True)
class Scratch:
    """A scratch folder: `location` is an absolute path or a URL."""

    location: str

    @classmethod
    @contextmanager
    def made(cls, root: str | None, beside: Path, stage: str) -> Iterator[Scratch]:
        """A new folder for one run of `stage` under `root`, or, when it is None, beside `beside` (a stage's output);
        removed with everything in it when the block ends."""
        if root is None:
            beside.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=beside, prefix=f".{stage}-") as folder:
                yield cls(str(Path(folder).resolve()))
            return
        root = root.rstrip("/")
        if "://" not in root:
            root = str(Path(root).resolve())
        made = cls(f"{root}/{stage}-{uuid.uuid4().hex}")
        filesystem, path = made._fs
        filesystem.create_dir(path, recursive=True)
        try:
            yield made
        finally:
            filesystem.delete_dir(path)

    @property
    def _fs(self) -> tuple[pafs.FileSystem, str]:
        return _filesystem(self.location)

    def _path(self, name: str) -> str:
        return f"{self._fs[1]}/{name}"

    @contextmanager
    def _output(self, name: str) -> Iterator[pa.NativeFile]:
        """A stream that becomes part `name` when the block succeeds."""
        filesystem, _ = self._fs
        partial = self._path(f"{name}.{uuid.uuid4().hex}.partial")
        try:
            with filesystem.open_output_stream(partial) as sink:
                yield sink
            filesystem.move(partial, self._path(name))
        finally:
            if filesystem.get_file_info(partial).type != pafs.FileType.NotFound:
                filesystem.delete_file(partial)

    def write_batches(self, name: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> str:
        """Writes part `name` in Arrow's IPC file format, which `read_batches` maps back without decoding."""
        with self._output(name) as sink, pa.ipc.new_file(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        return name

    @contextmanager
    def batch_writer(self, name: str, schema: pa.Schema) -> Iterator[pa.ipc.RecordBatchFileWriter]:
        """Part `name`, written batch by batch (`write`) in Arrow's IPC file format, as `write_batches` writes it."""
        with self._output(name) as sink, pa.ipc.new_file(sink, schema) as writer:
            yield writer

    def read_batches(self, name: str) -> Iterator[pa.RecordBatch]:
        """The batches of part `name` (memory-mapped where the scratch is local), then the part is removed."""
        filesystem, _ = self._fs
        with filesystem.open_input_file(self._path(name)) as source:
            reader = pa.ipc.open_file(source)
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index)
        filesystem.delete_file(self._path(name))

    @contextmanager
    def messages(self, name: str) -> Iterator[MessageWriter]:
        """Part `name`, written as record batches appended as bare IPC messages (no schema, no footer); the writer's
        `append` says where each went, for `read_messages`."""
        with self._output(name) as sink:
            yield MessageWriter(sink)

    def read_messages(self, name: str, messages: list[tuple[int, int]], schema: pa.Schema) -> list[pa.RecordBatch]:
        """The batches appended to part `name` at `messages` (offset, size), in that order; the part is not opened
        when there are none."""
        if not messages:
            return []
        filesystem, _ = self._fs
        with filesystem.open_input_file(self._path(name)) as file:
            return [pa.ipc.read_record_batch(file.read_at(size, offset), schema) for offset, size in messages]

    @contextmanager
    def line_writer(self, name: str) -> Iterator[LineWriter]:
        """Part `name`, written one JSON object per line (`write`)."""
        with self._output(name) as sink:
            yield LineWriter(sink)

    def write_lines(self, name: str, records: Iterable[dict[str, Any]]) -> str:
        """Writes part `name`: one JSON object per line."""
        with self.line_writer(name) as lines:
            for record in records:
                lines.write(record)
        return name

    def read_lines(self, name: str) -> Iterator[dict[str, Any]]:
        """The objects of a part `write_lines` wrote, in order, a block at a time; then the part is removed."""
        filesystem, _ = self._fs
        rest = b""
        with filesystem.open_input_stream(self._path(name)) as source:
            while block := source.read(_LINES_BLOCK):
                *lines, rest = (rest + block).split(b"\n")
                yield from (json.loads(line) for line in lines)
        filesystem.delete_file(self._path(name))


class MessageWriter:
    """Appends record batches to a part as bare IPC messages."""

    def __init__(self, sink: pa.NativeFile) -> None:
        self._sink = sink
        self._at = 0

    def append(self, batch: pa.RecordBatch) -> tuple[int, int]:
        """Writes `batch` at the end of the part; returns its message's (offset, size)."""
        message = batch.serialize()
        where = (self._at, message.size)
        self._sink.write(message)
        self._at += message.size
        return where


class LineWriter:
    """Writes JSON objects to a part, one per line, as the stages' reports write them."""

    def __init__(self, sink: pa.NativeFile) -> None:
        self._sink = sink
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        self._sink.write(json_line(record))
        self.count += 1

"""Ingest: reads the raw CSV named by `ingest.source`, one file or a directory of them; writes `data/ingested.parquet`,
`data/rejects/ingest.jsonl` and `metrics/ingest.json`.

Reads: the file at `ingest.source`, or every `*.csv` file in the directory at `ingest.source`, in name order, each in
the dialect of the `ingest` params (`delimiter`, `quotechar`, `encoding`; a UTF-8 byte order mark is skipped), and
each with a first record that is a header naming the English and French columns (`english_column`,
`french_column`). A missing, empty or binary file, or a header without those columns, stops the stage with one
message saying what to fix.

Every data record of every file then ends up either as a row or as a reject; blank lines are not records. A record's
position is its file (`source`: its name under `ingest.source`, or the file's own name) and its line:

- a row (`data/ingested.parquet`): `source`, `line` (the physical line the record starts on), `english`, `french`
  (the texts untouched, an empty one as null, for validate to judge), the files one after the other;
- a reject (`data/rejects/ingest.jsonl`: source, line, reason, message, raw text), for one of three reasons:
  `wrong_field_count`, not as many fields as the header; `undecodable_bytes`, bytes that are not valid in
  `ingest.encoding`; `unterminated_quote`, a quoted field that is never closed, of which only the first line is
  rejected: reading resumes on the next line, so that one stray quote cannot swallow the rest of the file.

`pipeline/csvread.py` reads each file: with the fast reader, or, on damage only the line reader takes apart record by
record, with the line reader, from the start (the summary says which reader, and why). One file is streamed by the
stage itself; the files of a directory are read at once on the engine's workers, one file a task. The metrics count
records, rows and rejects by reason, in total and for each file, and name the source with its sha256.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Arrow reads its allocator when it is first imported: a stage run as a program chooses it first.
    from pipeline import process

    process.prologue("jemalloc")

import dataclasses
import functools
import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from pipeline import csvread, process
from pipeline.io import JsonlSink, ParquetSink, Progress, StageError, WriteBehind, write_json
from pipeline.parallel import Workers
from pipeline.scratch import Scratch
from schema.params import IngestParams, Params
from schema.reject import Reject

STAGE = "ingest"

# The ingested rows: the reader's rows, after the name of the file they come from.
SCHEMA = pa.schema([pa.field("source", pa.string(), nullable=False), *csvread.ROW_SCHEMA])


@dataclass(frozen=True)
class IngestPaths:
    """Where ingest writes, as `dvc.yaml` names it (the raw CSV is `ingest.source`, a param)."""

    output: Path
    rejects: Path
    metrics: Path


@dataclass(frozen=True)
class RawFile:
    """One raw CSV: its name as rows and rejects give it, where it is (an absolute path, for any worker), and how
    messages show it."""

    name: str
    path: Path
    shown: str
    index: int = 0


@dataclass(frozen=True)
class FileRead:
    """What reading one file wrote: its records as rows and rejects, by reason, its sha256, and which reader."""

    file: RawFile
    rows: int
    rejected: int
    by_reason: Counter[str]
    sha256: str
    reader: str = ""

    @property
    def records(self) -> int:
        return self.rows + self.rejected

    def metrics(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rows": self.rows,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.by_reason.items())),
            "sha256": self.sha256,
        }


def run(params: Params, paths: IngestPaths) -> str:
    """Checks the source, reads each file into rows and rejects (with the fast reader, else the line reader), writes
    the metrics, and returns the summary."""
    source = params.ingest.source
    files = raw_files(source)
    for file in files:
        _check_source(file, params.ingest)
    progress = Progress(STAGE)
    if source.is_file():
        read = [read_file(files[0], params.ingest, partial(_stage_outputs, paths))]
    else:
        read = _read_on_workers(files, params, paths, progress)
    by_reason = sum((file.by_reason for file in read), Counter())
    rows, rejected = sum(file.rows for file in read), sum(file.rejected for file in read)
    write_json(
        paths.metrics,
        {
            "records": rows + rejected,
            "rows": rows,
            "rejected": rejected,
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "source": str(source),
            "source_sha256": read[0].sha256 if source.is_file() else _listing_sha256(read),
            "files": {file.file.name: file.metrics() for file in read},
        },
    )
    reasons = ", ".join(f"{count} {reason}" for reason, count in by_reason.most_common()) or "none"
    where = f"; see {paths.rejects}" if rejected else ""
    readers = read[0].reader if source.is_file() else "; ".join(f"{file.file.name}: {file.reader}" for file in read)
    return (
        f"ingest: read {rows + rejected:,} records from {source} in {progress.elapsed:.1f} s ({readers}): "
        f"{rows:,} rows written to {paths.output}, {rejected:,} rejected ({reasons}){where}."
    )


def raw_files(source: Path) -> list[RawFile]:
    """The raw CSV files of `ingest.source`: the file itself, or the `*.csv` files of the directory in name order."""
    if source.is_file():
        return [RawFile(source.name, source.resolve(), str(source))]
    if not source.is_dir():
        raise StageError(
            f"{source}: no such file; set ingest.source in params.yaml to the raw CSV or a directory of them"
        )
    found = sorted(
        (path for path in source.iterdir() if path.is_file() and path.suffix.lower() == ".csv"), key=lambda p: p.name
    )
    if not found:
        raise StageError(f"{source}: a directory without CSV files (*.csv); put the raw CSV files there")
    return [RawFile(path.name, path.resolve(), str(path), index) for index, path in enumerate(found)]


def _listing_sha256(read: list[FileRead]) -> str:
    """The sha256 of the directory's files as `sha256sum` lists them, in name order."""
    listing = "".join(f"{file.sha256}  {file.file.name}\n" for file in read)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _check_source(file: RawFile, params: IngestParams) -> None:
    with file.path.open("rb") as probe:
        head = probe.read(8192)
    if not head:
        raise StageError(f"{file.shown}: the file is empty; expected a header line and at least one record")
    if b"\0" in head and not params.encoding.lower().startswith("utf-16"):
        raise StageError(f"{file.shown}: not a text file (NUL bytes near the start); set ingest.source to the raw CSV")


def _header(fields: list[str], line: int, params: IngestParams) -> csvread.Header:
    """Where the English and French columns are in the header's `fields`; if they are not there, a StageError that
    says which params to set (a guess of the delimiter included) or to fix the file."""
    names = [name.strip() for name in fields]
    wanted = (params.english_column, params.french_column)
    if all(name in names for name in wanted):
        return csvread.Header(names, names.index(wanted[0]), names.index(wanted[1]))
    found = ", ".join(repr(name) for name in names)
    message = f"line {line}: expected the columns {wanted[0]!r} and {wanted[1]!r} in the header, found {found}"
    if len(names) == 1:
        for delimiter in (",", ";", "\t", "|"):
            if delimiter != params.delimiter and all(name in names[0].split(delimiter) for name in wanted):
                raise StageError(
                    f"{message}; the header looks delimited by {delimiter!r}: "
                    f"set ingest.delimiter to {delimiter!r} in params.yaml"
                )
    raise StageError(
        f"{message}; set ingest.english_column and ingest.french_column in params.yaml "
        "to the header's names, or fix the file"
    )


class _Sink(Protocol):
    def write(self, item: Any) -> None: ...


# Where one read of a file writes: a context giving the rows' sink and the rejects' sink, which keep what they were
# given only if the block ends without an exception.
Outputs = Callable[[], AbstractContextManager[tuple[_Sink, _Sink]]]


@contextmanager
def _stage_outputs(paths: IngestPaths) -> Iterator[tuple[_Sink, _Sink]]:
    with ParquetSink(paths.output, SCHEMA) as rows, JsonlSink(paths.rejects) as rejects:
        yield rows, rejects


def read_file(file: RawFile, params: IngestParams, outputs: Outputs) -> FileRead:
    """Reads one file into `outputs`, with the fast reader or, if it stops, the line reader from the start."""
    try:
        fast = _write(file, params, outputs, fast=True)
        if isinstance(fast, FileRead):
            return dataclasses.replace(fast, reader="fast reader")
        slow = _write(file, params, outputs, fast=False)
    except StageError as exc:
        raise StageError(f"{file.shown}: {exc}") from None
    return dataclasses.replace(slow, reader=f"line reader, as the file has {fast}")  # type: ignore[arg-type]


class _Discard(Exception):
    """Leaves the outputs' sinks with nothing kept (they keep their files only when their block ends without an
    exception), as the fast reader stopped and the line reader starts over."""

    def __init__(self, why: csvread.LineReaderNeeded) -> None:
        super().__init__(why)
        self.why = why


def _write(file: RawFile, params: IngestParams, outputs: Outputs, fast: bool) -> FileRead | csvread.LineReaderNeeded:
    """Reads `file` with one reader, writing the rows and rejects as they come. If the fast reader stops, nothing
    is kept and its reason is returned."""
    hashing = csvread.HashingReader(file.path)
    stream = io.BufferedReader(hashing, csvread.READ_BLOCK)
    read_header = functools.partial(_header, params=params)
    if fast:
        chunks = csvread.read_fast(stream, file.path, params, read_header)
    else:
        chunks = csvread.read_lines(stream, params, read_header)
    progress = Progress(STAGE, total=file.path.stat().st_size, unit="bytes")
    by_reason: Counter[str] = Counter()
    rows_written = rejected = 0
    try:
        # The rows are encoded on a thread of their own while the next block is parsed.
        with stream, outputs() as (rows, rejects), WriteBehind() as writes:
            for chunk in chunks:
                if isinstance(chunk, csvread.LineReaderNeeded):
                    raise _Discard(chunk)
                source = pa.repeat(pa.scalar(file.name, pa.string()), chunk.rows.num_rows)
                writes(rows.write, pa.RecordBatch.from_arrays([source, *chunk.rows.columns], schema=SCHEMA))
                rows_written += chunk.rows.num_rows
                for bad in chunk.bad_records:
                    rejects.write(
                        Reject(
                            source=file.name,
                            line=bad.line,
                            stage=STAGE,
                            reasons=[bad.reason.value],
                            message=bad.message,
                            raw=bad.raw,
                        ).to_json()
                    )
                    by_reason[bad.reason.value] += 1
                    rejected += 1
                progress.update(hashing.position)
            if rows_written == 0 and rejected == 0:
                raise StageError("the file has a header but no records")
    except _Discard as discarded:
        return discarded.why
    return FileRead(file, rows_written, rejected, by_reason, hashing.sha256.hexdigest())


def ingest_file(file: RawFile, params: IngestParams, scratch: Scratch) -> FileRead:
    """Reads one file of the directory into two scratch parts, its rows and its rejects."""

    @contextmanager
    def outputs() -> Iterator[tuple[_Sink, _Sink]]:
        with (
            scratch.batch_writer(f"rows-{file.index:06d}.arrow", SCHEMA) as rows,
            scratch.line_writer(f"rejects-{file.index:06d}.jsonl") as rejects,
        ):
            yield rows, rejects

    return read_file(file, params, outputs)


def _read_on_workers(files: list[RawFile], params: Params, paths: IngestPaths, progress: Progress) -> list[FileRead]:
    """Reads the files on the engine's workers, then appends each file's rows and rejects to the stage's outputs in
    name order."""
    read = []
    with (
        Scratch.made(params.engine.scratch, paths.output.parent, STAGE) as scratch,
        Workers(params.engine) as workers,
        ParquetSink(paths.output, SCHEMA) as rows,
        JsonlSink(paths.rejects) as rejects,
    ):
        for file in workers.map(partial(ingest_file, params=params.ingest, scratch=scratch), files):
            for batch in scratch.read_batches(f"rows-{file.file.index:06d}.arrow"):
                rows.write(batch)
            for record in scratch.read_lines(f"rejects-{file.file.index:06d}.jsonl"):
                rejects.write(record)
            read.append(file)
            progress.update(rows.rows)
    return read


def main(argv: list[str] | None = None) -> int:
    return process.stage_main(STAGE, run, IngestPaths, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    process.exit(main())

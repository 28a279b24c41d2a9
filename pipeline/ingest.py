"""Ingest: reads the raw CSV named by `ingest.source`; writes `data/ingested.parquet`, `data/rejects/ingest.jsonl`
and `metrics/ingest.json`.

Reads: the file at `ingest.source`, in the dialect of the `ingest` params (`delimiter`, `quotechar`, `encoding`;
a UTF-8 byte order mark is skipped), whose first record is a header naming the English and French columns
(`english_column`, `french_column`). A missing, empty or binary file, or a header without those columns, stops the
stage with one message saying what to fix.

Every data record of the file then ends up either as a row or as a reject; blank lines are not records:

- a row (`data/ingested.parquet`): `line` (the physical line the record starts on), `english`, `french` (the texts
  untouched, an empty one as null, for validate to judge);
- a reject (`data/rejects/ingest.jsonl`: line, reason, message, raw text), for one of three reasons:
  `wrong_field_count`, not as many fields as the header; `undecodable_bytes`, bytes that are not valid in
  `ingest.encoding`; `unterminated_quote`, a quoted field that is never closed, of which only the first line is
  rejected: reading resumes on the next line, so that one stray quote cannot swallow the rest of the file.

`pipeline/csvread.py` reads the file: with the fast reader, or, on damage only the line reader takes apart record by
record, with the line reader, from the start (the summary says which reader, and why). The metrics count records,
rows and rejects by reason, and name the source with its sha256.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Arrow reads its allocator when it is first imported: a stage run as a program chooses it first.
    from pipeline import process

    process.prologue("jemalloc")

import functools
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pipeline import csvread, process
from pipeline.io import JsonlSink, ParquetSink, Progress, StageError, WriteBehind, write_json
from schema.params import IngestParams, Params
from schema.reject import Reject

STAGE = "ingest"


@dataclass(frozen=True)
class IngestPaths:
    """Where ingest writes, as `dvc.yaml` names it (the raw CSV is `ingest.source`, a param)."""

    output: Path
    rejects: Path
    metrics: Path


def run(params: Params, paths: IngestPaths) -> str:
    """Checks the source, reads it into rows and rejects (with the fast reader, else the line reader), writes the
    metrics, and returns the summary."""
    source = params.ingest.source
    _check_source(source, params.ingest)
    try:
        written = _write(source, params.ingest, paths, fast=True)
        reader = "fast reader"
        if isinstance(written, csvread.LineReaderNeeded):
            reader = f"line reader, as the file has {written}"
            written = _write(source, params.ingest, paths, fast=False)
    except StageError as exc:
        raise StageError(f"{source}: {exc}") from None
    records = written.rows + written.rejected
    write_json(
        paths.metrics,
        {
            "records": records,
            "rows": written.rows,
            "rejected": written.rejected,
            "rejected_by_reason": dict(sorted(written.by_reason.items())),
            "source": str(source),
            "source_sha256": written.source_sha256,
        },
    )
    reasons = ", ".join(f"{count} {reason}" for reason, count in written.by_reason.most_common()) or "none"
    where = f"; see {paths.rejects}" if written.rejected else ""
    return (
        f"ingest: read {records:,} records from {source} in {written.seconds:.1f} s ({reader}): "
        f"{written.rows:,} rows written to {paths.output}, {written.rejected:,} rejected ({reasons}){where}."
    )


def _check_source(path: Path, params: IngestParams) -> None:
    if not path.is_file():
        raise StageError(f"{path}: no such file; set ingest.source in params.yaml to the raw CSV")
    with path.open("rb") as probe:
        head = probe.read(8192)
    if not head:
        raise StageError(f"{path}: the file is empty; expected a header line and at least one record")
    if b"\0" in head and not params.encoding.lower().startswith("utf-16"):
        raise StageError(f"{path}: not a text file (NUL bytes near the start); set ingest.source to the raw CSV")


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


@dataclass(frozen=True)
class _Written:
    """What one read of the source wrote."""

    rows: int
    rejected: int
    by_reason: Counter[str]
    source_sha256: str
    seconds: float


class _Discard(Exception):
    """Leaves the outputs' sinks with nothing kept (they keep their files only when their block ends without an
    exception), as the fast reader stopped and the line reader starts over."""

    def __init__(self, why: csvread.LineReaderNeeded) -> None:
        super().__init__(why)
        self.why = why


def _write(source: Path, params: IngestParams, paths: IngestPaths, fast: bool) -> _Written | csvread.LineReaderNeeded:
    """Reads `source` with one reader, writing the rows and rejects as they come. If the fast reader stops, nothing
    is kept and its reason is returned."""
    file = csvread.HashingReader(source)
    stream = io.BufferedReader(file, csvread.READ_BLOCK)
    read_header = functools.partial(_header, params=params)
    if fast:
        chunks = csvread.read_fast(stream, source, params, read_header)
    else:
        chunks = csvread.read_lines(stream, params, read_header)
    progress = Progress(STAGE, total=source.stat().st_size, unit="bytes")
    by_reason: Counter[str] = Counter()
    rows_written = 0
    try:
        # The rows are encoded on a thread of their own while the next block is parsed.
        with (
            stream,
            ParquetSink(paths.output, csvread.ROW_SCHEMA) as rows,
            WriteBehind() as writes,
            JsonlSink(paths.rejects) as rejects,
        ):
            for chunk in chunks:
                if isinstance(chunk, csvread.LineReaderNeeded):
                    raise _Discard(chunk)
                writes(rows.write, chunk.rows)
                rows_written += chunk.rows.num_rows
                for bad in chunk.bad_records:
                    rejects.write(
                        Reject(
                            line=bad.line, stage=STAGE, reasons=[bad.reason.value], message=bad.message, raw=bad.raw
                        ).to_json()
                    )
                    by_reason[bad.reason.value] += 1
                progress.update(file.position)
            if rows_written == 0 and rejects.count == 0:
                raise StageError("the file has a header but no records")
    except _Discard as discarded:
        return discarded.why
    return _Written(rows_written, rejects.count, by_reason, file.sha256.hexdigest(), progress.elapsed)


def main(argv: list[str] | None = None) -> int:
    return process.stage_main(STAGE, run, IngestPaths, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    process.exit(main())

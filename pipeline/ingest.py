"""Ingest: reads the raw CSV named by `ingest.source`; writes `data/ingested.parquet`, `data/rejects/ingest.jsonl`
and `metrics/ingest.json`.

Every data record of the file ends up either as a row (`line`, `english`, `french`, text untouched) or as a
reject with its line, reasons and raw text. Two readers give the same result. Arrow's CSV reader is fast and
serves files whose only damage is records with a wrong number of fields. The line reader serves the rest
(undecodable bytes, unterminated quotes): a record it cannot parse rejects only its first physical line, and
reading resumes on the next one, so one stray quote cannot swallow the rest of the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline import process
from pipeline.io import JsonlSink, ParquetSink, Progress, StageError, WriteBehind, write_json
from schema.params import IngestParams, Params

STAGE = "ingest"


@dataclass(frozen=True)
class IngestPaths:
    """Where ingest writes, as `dvc.yaml` names it (the raw CSV is `ingest.source`, a param)."""

    output: Path
    rejects: Path
    metrics: Path


SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("english", pa.string()),
        pa.field("french", pa.string()),
    ]
)

# 1 MiB blocks keep the reader's memory flat whatever the file size.
_READ_BLOCK = 1 << 20
# Undecodable bytes survive decoding as lone surrogates (errors="surrogateescape"), so they can be found per record.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_LINE_BREAK = "\r\n|\r|\n"


class Reason(StrEnum):
    """Why a record could not be read."""

    WRONG_FIELD_COUNT = "wrong_field_count"
    UNDECODABLE_BYTES = "undecodable_bytes"
    UNTERMINATED_QUOTE = "unterminated_quote"


class Reject(NamedTuple):
    line: int
    reason: Reason
    message: str
    raw: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "stage": STAGE, "reasons": [self.reason.value], "message": self.message, "raw": self.raw}


class Record(NamedTuple):
    line: int
    english: str | None
    french: str | None


Chunk = tuple[pa.RecordBatch, list[Reject]]


class _NeedsLineReader(Exception):
    """The fast reader met damage that only the line reader can take apart record by record."""


class _Header(NamedTuple):
    names: list[str]
    english_at: int
    french_at: int

    @classmethod
    def parse(cls, fields: list[str], params: IngestParams, line: int) -> _Header:
        names = [name.strip() for name in fields]
        wanted = (params.english_column, params.french_column)
        if all(name in names for name in wanted):
            return cls(names, names.index(wanted[0]), names.index(wanted[1]))
        found = ", ".join(repr(name) for name in names)
        message = f"line {line}: expected the columns {wanted[0]!r} and {wanted[1]!r} in the header, found {found}"
        if len(names) == 1:
            for delimiter in (",", ";", "\t", "|"):
                if delimiter != params.delimiter and all(name in names[0].split(delimiter) for name in wanted):
                    raise StageError(f"{message}; the header looks delimited by {delimiter!r}: "
                                     f"set ingest.delimiter to {delimiter!r} in params.yaml")
        raise StageError(f"{message}; set ingest.english_column and ingest.french_column in params.yaml "
                         "to the header's names, or fix the file")

    def wrong_width(self, line: int, found: int, delimiter: str, raw: str) -> Reject:
        message = f"expected {len(self.names)} fields separated by {delimiter!r}, found {found}"
        return Reject(line, Reason.WRONG_FIELD_COUNT, message, raw)


def _batch(lines: object, english: object, french: object) -> pa.RecordBatch:
    return pa.record_batch([pa.array(lines, pa.int64()), pa.array(english, pa.string()), pa.array(french, pa.string())],
                           schema=SCHEMA)


# The line reader.


class _LineFeed:
    """Physical lines for `csv.reader`: counts them, and can put back all but the first line of a bad record."""

    def __init__(self, lines: Iterable[str], max_record_lines: int) -> None:
        self._source = iter(lines)
        self._pending: deque[str] = deque()
        self._limit = max_record_lines
        self.number = 0
        self.record: list[str] = []
        self.ran_out = False

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if len(self.record) >= self._limit:
            raise csv.Error("record too long")
        if self._pending:
            line = self._pending.popleft()
        else:
            try:
                line = next(self._source)
            except StopIteration:
                # Asked for a line in the middle of a record: a quoted field is still open at the end of the file.
                self.ran_out = bool(self.record)
                raise
        self.number += 1
        self.record.append(line)
        return line

    def start_record(self) -> None:
        self.record = []
        self.ran_out = False

    @property
    def record_start(self) -> int:
        return self.number - len(self.record) + 1

    def give_back_all_but_first(self) -> str:
        first, rest = self.record[0], self.record[1:]
        self._pending.extendleft(reversed(rest))
        self.number -= len(rest)
        self.record = []
        return first


def parse_lines(lines: Iterable[str], params: IngestParams) -> Iterator[Record | Reject]:
    """Turns physical lines (line ends kept, undecodable bytes as surrogate escapes) into records and rejects.

    Raises StageError when the header is not the one `params` asks for.
    """
    feed = _LineFeed(lines, params.max_record_lines)
    # Not strict: a stray quote (`"abc"def`, `ab"c`) reads the way Arrow reads it. Unterminated quotes are caught by
    # the record length limit, and at the end of the file by the feed running out mid-record.
    dialect = {"delimiter": params.delimiter, "quotechar": params.quotechar, "doublequote": True, "strict": False}
    reader = csv.reader(feed, **dialect)
    header: _Header | None = None
    while True:
        feed.start_record()
        try:
            fields = next(reader)
            unterminated = feed.ran_out
        except StopIteration:
            break
        except csv.Error:
            unterminated = True
        start = feed.record_start
        if unterminated:
            first = feed.give_back_all_but_first()
            if header is None:
                raise StageError(f"line {start}: the header has a quote that is never closed")
            yield Reject(start, Reason.UNTERMINATED_QUOTE,
                         "a quoted field is never closed; the line is rejected and reading resumes on the next line",
                         _readable(first))
            reader = csv.reader(feed, **dialect)
            continue
        if not fields:
            continue
        if header is None:
            header = _Header.parse(fields, params, start)
            continue
        raw = "".join(feed.record)
        if len(fields) != len(header.names):
            yield header.wrong_width(start, len(fields), params.delimiter, _readable(raw))
        elif _ESCAPED_BYTE.search(raw):
            yield Reject(start, Reason.UNDECODABLE_BYTES,
                         f"bytes that are not valid {params.encoding} (shown as U+FFFD in raw)", _readable(raw))
        else:
            yield Record(start, fields[header.english_at] or None, fields[header.french_at] or None)
    if header is None:
        raise StageError("the file is empty: expected a header line and at least one record")


def _readable(raw: str) -> str:
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace").rstrip("\r\n")


def chunks(items: Iterable[Record | Reject], batch_rows: int) -> Iterator[Chunk]:
    """Groups records into record batches of at most `batch_rows` rows, each with the rejects met meanwhile."""
    records: list[Record] = []
    rejects: list[Reject] = []
    for item in items:
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        records.append(item)
        if len(records) >= batch_rows:
            yield _batch(*zip(*records)), rejects
            records, rejects = [], []
    if records or rejects:
        yield _batch(*(zip(*records) if records else ([], [], []))), rejects


# The fast reader.


def _line_breaks(column: pa.Array) -> np.ndarray:
    """Physical line breaks (CRLF, CR or LF) in each value of a string array.

    Works on the array's byte buffer: a tenth of the cost of a per-value regex count on long texts.
    """
    counts = np.zeros(len(column), dtype=np.int64)
    if not len(column):
        return counts
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    breaks = np.flatnonzero((data == 10) | (data == 13))
    if breaks.size:
        rows = np.searchsorted(offsets, breaks + offsets[0], side="right") - 1
        second_of_pair = (data[breaks] == 10) & (breaks > 0) & (data[np.maximum(breaks - 1, 0)] == 13)
        same_row_pair = second_of_pair & (np.concatenate(([-1], rows[:-1])) == rows)
        counts += np.bincount(rows[~same_row_pair], minlength=len(column))
    return counts


class _Placement:
    """Gives physical line numbers to the rows of the fast reader, whose rejected rows come separately.

    Arrow numbers every row it reads, skipped or not (the header is row 1), but not physical lines: a quoted
    field spanning several lines shifts every later line. Rows are placed in reading order and spans added up.
    """

    def __init__(self) -> None:
        self.next_row = 2
        self.next_line = 2
        self.skipped: list[tuple[int, str, int]] = []
        self.last_span = 1

    def place(self, spans: np.ndarray) -> tuple[np.ndarray, list[tuple[int, str, int]]]:
        """Returns the start lines of the `len(spans)` rows read next, and the skipped rows found among them."""
        count = len(spans)
        self.skipped.sort()
        found: list[tuple[int, str, int]] = []
        for rank, (row, text, fields) in enumerate(self.skipped):
            rows_before = row - self.next_row - rank
            if rows_before > count:
                break
            found.append((rows_before, text, fields))
        self.skipped = self.skipped[len(found):]
        at = np.array([rows_before for rows_before, _, _ in found], dtype=np.int64)
        found_spans = np.array([1 + len(re.findall(_LINE_BREAK, text)) for _, text, _ in found], dtype=np.int64)
        shift = np.zeros(count + 1, dtype=np.int64)
        np.add.at(shift, at, found_spans)
        starts = self.next_line + np.cumsum(spans) - spans + np.cumsum(shift)[:count]
        valid_lines_before = np.concatenate(([0], np.cumsum(spans)))
        skipped = [(self.next_line + int(valid_lines_before[at[k]]) + int(found_spans[:k].sum()), text, fields)
                   for k, (_, text, fields) in enumerate(found)]
        if count or found:
            last_is_skipped = bool(found) and at[-1] == count
            self.last_span = int(found_spans[-1] if last_is_skipped else spans[-1])
        self.next_row += count + len(found)
        self.next_line += int(spans.sum()) + int(found_spans.sum())
        return starts, skipped

def read_fast(stream: BinaryIO, params: IngestParams, tail: Callable[[int], list[str]]) -> Iterator[Chunk]:
    """Reads with Arrow's CSV reader; raises _NeedsLineReader on damage it cannot place record by record.

    `tail(n)` gives the last `n` physical lines of the file.
    """
    head = io.TextIOWrapper(io.BytesIO(stream.peek(_READ_BLOCK)[:_READ_BLOCK]),  # type: ignore[attr-defined]
                            encoding=_python_encoding(params), errors="replace", newline="")
    first = next(csv.reader(head, delimiter=params.delimiter, quotechar=params.quotechar), None)
    if first is None:
        raise StageError("the file is empty: expected a header line and at least one record")
    header = _Header.parse(first, params, 1)
    if len(set(header.names)) != len(header.names) or any(_line_breaks(pa.array(first)).tolist()):
        raise _NeedsLineReader
    placement = _Placement()

    def skip(row: pacsv.InvalidRow) -> str:
        placement.skipped.append((row.number, row.text, row.actual_columns))
        return "skip"

    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=_READ_BLOCK, use_threads=False, encoding=params.encoding),
            parse_options=pacsv.ParseOptions(delimiter=params.delimiter, quote_char=params.quotechar,
                                              newlines_in_values=True, ignore_empty_lines=False,
                                              invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in header.names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        for batch in reader:
            yield _fast_chunk(batch, header, placement, params)
        yield _fast_chunk(pa.RecordBatch.from_pylist([], schema=reader.schema), header, placement, params)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _NeedsLineReader from exc
    # An open quote also swallows the final line break, so the last record may start one line later than its span
    # says; a false alarm only costs a read with the line reader.
    last = placement.last_span
    if any(_opens_quote(tail(span), params) for span in {last, max(1, last - 1)}):
        raise _NeedsLineReader


def _opens_quote(last_record: list[str], params: IngestParams) -> bool:
    """Whether the file's last record leaves a quote open, which Arrow's reader silently closes."""
    feed = _LineFeed(last_record, len(last_record) + 1)
    try:
        next(csv.reader(feed, delimiter=params.delimiter, quotechar=params.quotechar, strict=False))
    except StopIteration:
        return False
    return feed.ran_out


def _fast_chunk(batch: pa.RecordBatch, header: _Header, placement: _Placement, params: IngestParams) -> Chunk:
    spans = np.ones(batch.num_rows, dtype=np.int64)
    blank = np.ones(batch.num_rows, dtype=bool)
    for column in batch.columns:
        spans += _line_breaks(column)
        blank &= pc.equal(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
    # Arrow reads a blank line and a record of empty fields (`;`) alike; only the line reader tells a line that is
    # not a record from a record with nothing in it, which must be kept (and is then rejected by validate).
    if batch.num_rows and (spans.max() > params.max_record_lines or blank.any()):
        raise _NeedsLineReader
    starts, skipped = placement.place(spans)
    if any(re.search(_LINE_BREAK, text) for _, text, _ in skipped):
        raise _NeedsLineReader
    english, french = (pc.if_else(pc.equal(batch.column(at), ""), None, batch.column(at))
                       for at in (header.english_at, header.french_at))
    rejects = [header.wrong_width(line, fields, params.delimiter, text) for line, text, fields in skipped]
    return _batch(starts, english, french), rejects


# The stage.


def _python_encoding(params: IngestParams) -> str:
    return "utf-8-sig" if params.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else params.encoding


class _HashingReader(io.RawIOBase):
    """Hashes the raw bytes as they are read, so the file is read once."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.sha256 = hashlib.sha256()
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._file.readinto(buffer)
        self.sha256.update(memoryview(buffer)[:count])
        self.position += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def _last_lines(path: Path, count: int, params: IngestParams) -> list[str]:
    with path.open("rb") as file:
        size = file.seek(0, io.SEEK_END)
        file.seek(max(0, size - _READ_BLOCK))
        text = file.read().decode(_python_encoding(params), errors="replace")
    pieces = re.split(f"({_LINE_BREAK})", text)
    lines = [line + end for line, end in zip(pieces[::2], pieces[1::2] + [""]) if line + end]
    if len(lines) <= count and size > _READ_BLOCK:
        raise _NeedsLineReader
    return lines[-count:]


def _check_source(path: Path, params: IngestParams) -> None:
    if not path.is_file():
        raise StageError(f"{path}: no such file; set ingest.source in params.yaml to the raw CSV")
    with path.open("rb") as probe:
        head = probe.read(8192)
    if not head:
        raise StageError(f"{path}: the file is empty; expected a header line and at least one record")
    if b"\0" in head and not params.encoding.lower().startswith("utf-16"):
        raise StageError(f"{path}: not a text file (NUL bytes near the start); set ingest.source to the raw CSV")


def _write(source: Path, params: IngestParams, paths: IngestPaths,
           fast: bool) -> tuple[int, int, Counter[str], str, float]:
    raw = _HashingReader(source)
    stream = io.BufferedReader(raw, _READ_BLOCK)
    progress = Progress(STAGE, total=source.stat().st_size, unit="bytes")
    by_reason: Counter[str] = Counter()
    written = 0
    # The rows are encoded on a thread of their own while the next block is parsed.
    with (stream, ParquetSink(paths.output, SCHEMA) as rows, WriteBehind() as writes,
          JsonlSink(paths.rejects) as rejects):
        if fast:
            items = read_fast(stream, params, lambda count: _last_lines(source, count, params))
        else:
            text = io.TextIOWrapper(stream, encoding=_python_encoding(params), errors="surrogateescape", newline="")
            items = chunks(parse_lines(text, params), params.batch_rows)
        for batch, batch_rejects in items:
            writes(rows.write, batch)
            written += batch.num_rows
            for reject in batch_rejects:
                rejects.write(reject.to_json())
                by_reason[reject.reason.value] += 1
            progress.update(raw.position)
        if written == 0 and rejects.count == 0:
            raise StageError("the file has a header but no records")
    return written, rejects.count, by_reason, raw.sha256.hexdigest(), progress.elapsed


def run(params: Params, paths: IngestPaths) -> str:
    source = params.ingest.source
    _check_source(source, params.ingest)
    try:
        try:
            written, rejected, by_reason, sha256, elapsed = _write(source, params.ingest, paths, fast=True)
            reader = "fast reader"
        except _NeedsLineReader:
            written, rejected, by_reason, sha256, elapsed = _write(source, params.ingest, paths, fast=False)
            reader = "line reader, as the file has undecodable bytes or unterminated quotes"
    except StageError as exc:
        raise StageError(f"{source}: {exc}") from None
    records = written + rejected
    write_json(paths.metrics, {
        "records": records,
        "rows": written,
        "rejected": rejected,
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "source": str(source),
        "source_sha256": sha256,
    })
    reasons = ", ".join(f"{count} {reason}" for reason, count in by_reason.most_common()) or "none"
    where = f"; see {paths.rejects}" if rejected else ""
    return (f"ingest: read {records:,} records from {source} in {elapsed:.1f} s ({reader}): "
            f"{written:,} rows written to {paths.output}, {rejected:,} rejected ({reasons}){where}.")


def main(argv: list[str] | None = None) -> int:
    return process.stage_main(STAGE, run, IngestPaths, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    process.exit(main())

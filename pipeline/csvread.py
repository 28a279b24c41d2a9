"""Reads a raw CSV file (bytes, in the dialect of the `ingest` params) into batches of rows and bad records.

Every record becomes a row (`line`, `english`, `french`: the physical line it starts on and its two texts, an
empty text as null) or a bad record (its line, a reason code, a message and its raw text); blank lines are not
records. Two readers give the same result on any file the fast one finishes (tests/pipeline/test_csvread.py):

- `read_fast` reads blocks with Arrow's CSV reader. It serves clean files and files whose only damage is records
  with a wrong number of fields. On anything else it stops, its last item saying why (`LineReaderNeeded`), and the
  file must be read again, from the start, with the line reader.
- `read_lines` feeds Python's CSV reader one physical line at a time and serves any file: a record it cannot parse
  is reported by its first physical line only, and reading resumes on the next one, so that one stray quote cannot
  swallow the rest of the file.

Both leave the header to the caller (`ReadHeader`): it says where the two columns are, or why the file is unusable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.io import StageError
from schema.params import IngestParams

# 1 MiB blocks keep the readers' memory flat whatever the file size.
READ_BLOCK = 1 << 20

ROW_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("english", pa.string()),
        pa.field("french", pa.string()),
    ]
)

# Undecodable bytes survive decoding as lone surrogates (errors="surrogateescape"), so they can be found per record.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_LINE_BREAK = "\r\n|\r|\n"
_EMPTY_FILE = "the file is empty: expected a header line and at least one record"


class Reason(StrEnum):
    """Why a record is not a row: the reason codes of the ingest rejects."""

    WRONG_FIELD_COUNT = "wrong_field_count"
    UNDECODABLE_BYTES = "undecodable_bytes"
    UNTERMINATED_QUOTE = "unterminated_quote"


class BadRecord(NamedTuple):
    """A record that is not a row: the physical line it starts on, why, what a maintainer reads, its raw text."""

    line: int
    reason: Reason
    message: str
    raw: str


class Header(NamedTuple):
    """The header's column names and where the English and French columns are among them."""

    names: list[str]
    english_at: int
    french_at: int

    def wrong_field_count(self, line: int, found: int, delimiter: str, raw: str) -> BadRecord:
        message = f"expected {len(self.names)} fields separated by {delimiter!r}, found {found}"
        return BadRecord(line, Reason.WRONG_FIELD_COUNT, message, raw)


# The caller's check of the header: given its fields and its line, where the two columns are, or a StageError
# saying what to fix.
ReadHeader = Callable[[list[str], int], Header]


class Chunk(NamedTuple):
    """Rows in `ROW_SCHEMA`, and the bad records met while reading them."""

    rows: pa.RecordBatch
    bad_records: list[BadRecord]


class LineReaderNeeded(StrEnum):
    """Why the fast reader stopped: what the file has that only the line reader takes apart record by record."""

    HEADER_NAMES = "column names that repeat or span several lines"
    UNREADABLE_BLOCK = "undecodable bytes or a record Arrow's reader cannot parse"
    BLANK_RECORDS = "blank lines or records of empty fields"
    LONG_RECORD = "a record spanning more lines than ingest.max_record_lines"
    MULTILINE_WRONG_FIELD_COUNT = "a record with a wrong number of fields spanning several lines"
    OPEN_QUOTE_AT_END = "a quote that may be left open at the end of the file"
    LONG_LAST_RECORD = "a last record too long to check for an open quote"


class HashingReader(io.RawIOBase):
    """The raw file, hashed (sha256) and counted as it is read, so that a reader reads it once."""

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


# The fast reader.


def read_fast(
    stream: BinaryIO, path: Path, params: IngestParams, read_header: ReadHeader
) -> Iterator[Chunk | LineReaderNeeded]:
    """Reads `stream` (buffered, so that the header can be peeked at) with Arrow's CSV reader; ends with a
    `LineReaderNeeded` on damage it cannot place record by record. `path` is the file `stream` reads: its end is read
    again to check the last record's quotes."""
    head = io.TextIOWrapper(
        io.BytesIO(stream.peek(READ_BLOCK)[:READ_BLOCK]),  # type: ignore[attr-defined]
        encoding=_python_encoding(params),
        errors="replace",
        newline="",
    )
    first = next(csv.reader(head, delimiter=params.delimiter, quotechar=params.quotechar), None)
    if first is None:
        raise StageError(_EMPTY_FILE)
    header = read_header(first, 1)
    if len(set(header.names)) != len(header.names) or any(_line_breaks(pa.array(first)).tolist()):
        yield LineReaderNeeded.HEADER_NAMES
        return
    placement = _Placement()

    def skip(row: pacsv.InvalidRow) -> str:
        placement.skipped.append((row.number, row.text, row.actual_columns))
        return "skip"

    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=READ_BLOCK, use_threads=False, encoding=params.encoding),
            parse_options=pacsv.ParseOptions(
                delimiter=params.delimiter,
                quote_char=params.quotechar,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=skip,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header.names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        # The empty batch at the end places the rows skipped after the last one read.
        for batch in itertools.chain(reader, [pa.RecordBatch.from_pylist([], schema=reader.schema)]):
            chunk = _fast_chunk(batch, header, placement, params)
            yield chunk
            if isinstance(chunk, LineReaderNeeded):
                return
    except (pa.ArrowInvalid, UnicodeDecodeError):
        yield LineReaderNeeded.UNREADABLE_BLOCK
        return
    # Arrow's reader silently closes a quote left open at the end of the file. The open quote also swallows the
    # final line break, so the last record may start one line later than its span says; a false alarm only costs a
    # read with the line reader.
    last = placement.last_span
    for span in {last, max(1, last - 1)}:
        last_record = _last_lines(path, span, params)
        if last_record is None:
            yield LineReaderNeeded.LONG_LAST_RECORD
            return
        if _opens_quote(last_record, params):
            yield LineReaderNeeded.OPEN_QUOTE_AT_END
            return


def _last_lines(path: Path, count: int, params: IngestParams) -> list[str] | None:
    """The last `count` physical lines of the file at `path`, line ends kept, or None if the last read block does
    not hold them all."""
    with path.open("rb") as file:
        size = file.seek(0, io.SEEK_END)
        file.seek(max(0, size - READ_BLOCK))
        text = file.read().decode(_python_encoding(params), errors="replace")
    pieces = re.split(f"({_LINE_BREAK})", text)
    lines = [line + end for line, end in zip(pieces[::2], pieces[1::2] + [""], strict=True) if line + end]
    if len(lines) <= count and size > READ_BLOCK:
        return None
    return lines[-count:]


def _fast_chunk(
    batch: pa.RecordBatch, header: Header, placement: _Placement, params: IngestParams
) -> Chunk | LineReaderNeeded:
    spans = np.ones(batch.num_rows, dtype=np.int64)
    blank = np.ones(batch.num_rows, dtype=bool)
    for column in batch.columns:
        spans += _line_breaks(column)
        blank &= pc.equal(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
    if batch.num_rows and spans.max() > params.max_record_lines:
        return LineReaderNeeded.LONG_RECORD
    # Arrow reads a blank line and a record of empty fields (`;`) alike; only the line reader tells a line that is
    # not a record from a record with nothing in it, which must be kept (and is then rejected by validate).
    if batch.num_rows and blank.any():
        return LineReaderNeeded.BLANK_RECORDS
    starts, skipped = placement.place(spans)
    if any(re.search(_LINE_BREAK, text) for _, text, _ in skipped):
        return LineReaderNeeded.MULTILINE_WRONG_FIELD_COUNT
    english, french = (
        pc.if_else(pc.equal(batch.column(at), ""), None, batch.column(at))
        for at in (header.english_at, header.french_at)
    )
    bad_records = [header.wrong_field_count(line, fields, params.delimiter, text) for line, text, fields in skipped]
    return Chunk(_row_batch(starts, english, french), bad_records)


def _line_breaks(column: pa.Array) -> np.ndarray:
    """Physical line breaks (CRLF, CR or LF) in each value of a string array.

    Works on the array's byte buffer, which costs much less than a per-value regex count on long texts.
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
    """Gives physical line numbers to the rows of the fast reader, whose skipped rows come separately.

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
        self.skipped = self.skipped[len(found) :]
        at = np.array([before for before, _, _ in found], dtype=np.int64)
        found_spans = np.array(
            [1 + len(re.findall(_LINE_BREAK, found_text)) for _, found_text, _ in found], dtype=np.int64
        )
        shift = np.zeros(count + 1, dtype=np.int64)
        np.add.at(shift, at, found_spans)
        starts = self.next_line + np.cumsum(spans) - spans + np.cumsum(shift)[:count]
        valid_lines_before = np.concatenate(([0], np.cumsum(spans)))
        skipped = [
            (self.next_line + int(valid_lines_before[at[k]]) + int(found_spans[:k].sum()), found_text, found_fields)
            for k, (_, found_text, found_fields) in enumerate(found)
        ]
        if count or found:
            last_is_skipped = bool(found) and at[-1] == count
            self.last_span = int(found_spans[-1] if last_is_skipped else spans[-1])
        self.next_row += count + len(found)
        self.next_line += int(spans.sum()) + int(found_spans.sum())
        return starts, skipped


def _opens_quote(last_record: list[str], params: IngestParams) -> bool:
    """Whether the file's last record leaves a quote open."""
    feed = _LineFeed(last_record, len(last_record) + 1)
    try:
        next(csv.reader(feed, delimiter=params.delimiter, quotechar=params.quotechar, strict=False))
    except StopIteration:
        return False
    return feed.ran_out


# The line reader.


def read_lines(stream: BinaryIO, params: IngestParams, read_header: ReadHeader) -> Iterator[Chunk]:
    """Reads `stream` one physical line at a time with Python's CSV reader, in chunks of `params.batch_rows` rows."""
    text = io.TextIOWrapper(stream, encoding=_python_encoding(params), errors="surrogateescape", newline="")
    yield from _chunks(_records(text, params, read_header), params.batch_rows)


class _Record(NamedTuple):
    line: int
    english: str | None
    french: str | None


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


def _records(lines: Iterable[str], params: IngestParams, read_header: ReadHeader) -> Iterator[_Record | BadRecord]:
    """Turns physical lines (line ends kept, undecodable bytes as surrogate escapes) into records and bad records."""
    feed = _LineFeed(lines, params.max_record_lines)
    # Not strict: a stray quote (`"abc"def`, `ab"c`) reads the way Arrow reads it. Unterminated quotes are caught by
    # the record length limit, and at the end of the file by the feed running out mid-record.
    dialect = {"delimiter": params.delimiter, "quotechar": params.quotechar, "doublequote": True, "strict": False}
    reader = csv.reader(feed, **dialect)
    header: Header | None = None
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
            yield BadRecord(
                start,
                Reason.UNTERMINATED_QUOTE,
                "a quoted field is never closed; the line is rejected and reading resumes on the next line",
                _readable(first),
            )
            # The reader is left mid-record by the error; a new one starts on the line after the rejected one.
            reader = csv.reader(feed, **dialect)
            continue
        if not fields:
            continue
        if header is None:
            header = read_header(fields, start)
            continue
        raw = "".join(feed.record)
        if len(fields) != len(header.names):
            yield header.wrong_field_count(start, len(fields), params.delimiter, _readable(raw))
        elif _ESCAPED_BYTE.search(raw):
            yield BadRecord(
                start,
                Reason.UNDECODABLE_BYTES,
                f"bytes that are not valid {params.encoding} (shown as U+FFFD in raw)",
                _readable(raw),
            )
        else:
            yield _Record(start, fields[header.english_at] or None, fields[header.french_at] or None)
    if header is None:
        raise StageError(_EMPTY_FILE)


def _readable(raw: str) -> str:
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace").rstrip("\r\n")


def _chunks(items: Iterable[_Record | BadRecord], batch_rows: int) -> Iterator[Chunk]:
    """Groups records into chunks of at most `batch_rows` rows, each with the bad records met meanwhile."""
    records: list[_Record] = []
    bad_records: list[BadRecord] = []
    for item in items:
        if isinstance(item, BadRecord):
            bad_records.append(item)
            continue
        records.append(item)
        if len(records) >= batch_rows:
            yield Chunk(_row_batch(*zip(*records, strict=True)), bad_records)
            records, bad_records = [], []
    if records or bad_records:
        yield Chunk(_row_batch(*(zip(*records, strict=True) if records else ([], [], []))), bad_records)


# Shared by both readers.


def _row_batch(lines: object, english: object, french: object) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(lines, pa.int64()), pa.array(english, pa.string()), pa.array(french, pa.string())], schema=ROW_SCHEMA
    )


def _python_encoding(params: IngestParams) -> str:
    """The codec Python reads `params.encoding` with: for UTF-8, one that skips a byte order mark, as Arrow's does."""
    return "utf-8-sig" if params.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else params.encoding

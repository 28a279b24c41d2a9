"""Ingest: reads the raw CSV named by `ingest.source`; writes `data/ingested.parquet`, `data/rejects/ingest.jsonl`
and `metrics/ingest.json`.

Every data record of the file ends up either as a row (`line`, `english`, `french`, text untouched) or as a
reject with its line, reasons and raw text. A record that cannot be parsed rejects only its first physical
line, and reading resumes on the next one, so one stray quote cannot swallow the rest of the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import sys
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from pipeline.io import REJECTS_DIR, JsonlSink, ParquetSink, Progress, StageError, run_stage, write_metrics
from schema.params import IngestParams, Params

STAGE = "ingest"
INGESTED = Path("data/ingested.parquet")
REJECTS = REJECTS_DIR / "ingest.jsonl"

SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("english", pa.string()),
        pa.field("french", pa.string()),
    ]
)

_READ_BLOCK = 1 << 20
# Undecodable bytes survive decoding as lone surrogates (errors="surrogateescape"), so they can be found per record.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


class Reason(StrEnum):
    """Why a record could not be read."""

    WRONG_FIELD_COUNT = "wrong_field_count"
    UNDECODABLE_BYTES = "undecodable_bytes"
    UNTERMINATED_QUOTE = "unterminated_quote"
    BAD_QUOTING = "bad_quoting"


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    english: str | None
    french: str | None


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    reason: Reason
    message: str
    raw: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "stage": STAGE, "reasons": [self.reason.value], "message": self.message, "raw": self.raw}


class _RecordTooLong(Exception):
    pass


class _LineFeed:
    """Physical lines for `csv.reader`: counts them, and can put back all but the first line of a bad record."""

    def __init__(self, lines: Iterable[str], max_record_lines: int) -> None:
        self._source = iter(lines)
        self._pending: deque[str] = deque()
        self._limit = max_record_lines
        self.number = 0
        self.record: list[str] = []

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if len(self.record) >= self._limit:
            raise _RecordTooLong
        line = self._pending.popleft() if self._pending else next(self._source)
        self.number += 1
        self.record.append(line)
        return line

    @property
    def record_start(self) -> int:
        return self.number - len(self.record) + 1

    def give_back_all_but_first(self) -> str:
        first, rest = self.record[0], self.record[1:]
        self._pending.extendleft(reversed(rest))
        self.number -= len(rest)
        self.record = []
        return first


def parse(lines: Iterable[str], params: IngestParams) -> Iterator[Record | Reject]:
    """Turns physical lines (line ends kept, undecodable bytes as surrogate escapes) into records and rejects.

    Raises StageError when the header is not the one `params` asks for.
    """
    feed = _LineFeed(lines, params.max_record_lines)
    dialect = {"delimiter": params.delimiter, "quotechar": params.quotechar, "doublequote": True, "strict": True}
    reader = csv.reader(feed, **dialect)
    english_at = french_at = width = -1
    while True:
        feed.record = []
        try:
            fields = next(reader)
        except StopIteration:
            break
        except (csv.Error, _RecordTooLong) as exc:
            start = feed.record_start
            first = feed.give_back_all_but_first()
            if width < 0:
                raise StageError(f"line {start}: the header cannot be parsed ({exc or 'unterminated quote'})") from None
            yield _unparsable(start, first, exc)
            reader = csv.reader(feed, **dialect)
            continue
        if not fields:
            continue
        start = feed.record_start
        if width < 0:
            english_at, french_at = _find_columns(fields, params, start)
            width = len(fields)
            continue
        raw = "".join(feed.record)
        if len(fields) != width:
            yield Reject(
                start,
                Reason.WRONG_FIELD_COUNT,
                f"expected {width} fields separated by {params.delimiter!r}, found {len(fields)}",
                _readable(raw),
            )
        elif _ESCAPED_BYTE.search(raw):
            yield Reject(
                start,
                Reason.UNDECODABLE_BYTES,
                f"bytes that are not valid {params.encoding} (shown as U+FFFD in raw)",
                _readable(raw),
            )
        else:
            yield Record(start, fields[english_at] or None, fields[french_at] or None)
    if width < 0:
        raise StageError("the file is empty: expected a header line and at least one record")


def _unparsable(start: int, first_line: str, exc: Exception) -> Reject:
    if isinstance(exc, _RecordTooLong) or "unexpected end of data" in str(exc):
        return Reject(
            start,
            Reason.UNTERMINATED_QUOTE,
            "a quoted field is never closed; the line is rejected and reading resumes on the next line",
            _readable(first_line),
        )
    return Reject(start, Reason.BAD_QUOTING, f"malformed quoting: {exc}", _readable(first_line))


def _find_columns(header: list[str], params: IngestParams, line: int) -> tuple[int, int]:
    names = [name.strip() for name in header]
    wanted = (params.english_column, params.french_column)
    if all(name in names for name in wanted):
        return names.index(wanted[0]), names.index(wanted[1])
    found = ", ".join(repr(name) for name in names)
    message = f"line {line}: expected the columns {wanted[0]!r} and {wanted[1]!r} in the header, found {found}"
    if len(names) == 1:
        for delimiter in (",", ";", "\t", "|"):
            if delimiter != params.delimiter and all(name in names[0].split(delimiter) for name in wanted):
                hint = f"; the header looks delimited by {delimiter!r}: set ingest.delimiter to {delimiter!r}"
                raise StageError(message + hint)
    raise StageError(
        message + "; set ingest.english_column and ingest.french_column to the header's names, or fix the file"
    )


def _readable(raw: str) -> str:
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace").rstrip("\r\n")


def batches(items: Iterable[Record | Reject], batch_rows: int) -> Iterator[tuple[pa.RecordBatch, list[Reject]]]:
    """Groups records into record batches of at most `batch_rows` rows, each with the rejects met meanwhile."""
    lines: list[int] = []
    english: list[str | None] = []
    french: list[str | None] = []
    rejects: list[Reject] = []
    for item in items:
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        lines.append(item.line)
        english.append(item.english)
        french.append(item.french)
        if len(lines) >= batch_rows:
            yield _batch(lines, english, french), rejects
            lines, english, french, rejects = [], [], [], []
    if lines or rejects:
        yield _batch(lines, english, french), rejects


def _batch(lines: list[int], english: list[str | None], french: list[str | None]) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(lines, pa.int64()), pa.array(english, pa.string()), pa.array(french, pa.string())], schema=SCHEMA
    )


@dataclass
class _HashingReader(io.RawIOBase):
    """Hashes the raw bytes as they are read, so the file is read once."""

    file: BinaryIO
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    position: int = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self.file.readinto(buffer)
        self.sha256.update(memoryview(buffer)[:count])
        self.position += count
        return count


def _open_text(path: Path, params: IngestParams) -> tuple[_HashingReader, io.TextIOWrapper]:
    if not path.is_file():
        raise StageError(f"{path}: no such file; set ingest.source in params.yaml to the raw CSV")
    with path.open("rb") as probe:
        head = probe.read(8192)
    if not head:
        raise StageError(f"{path}: the file is empty; expected a header line and at least one record")
    if b"\0" in head and not params.encoding.lower().startswith("utf-16"):
        raise StageError(f"{path}: not a text file (NUL bytes near the start); set ingest.source to the raw CSV")
    encoding = "utf-8-sig" if params.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else params.encoding
    raw = _HashingReader(path.open("rb"))
    text = io.TextIOWrapper(io.BufferedReader(raw, _READ_BLOCK), encoding=encoding, errors="surrogateescape", newline="")
    return raw, text


def run(params: Params) -> str:
    source = params.ingest.source
    raw, text = _open_text(source, params.ingest)
    total = source.stat().st_size
    progress = Progress(STAGE, total=total, unit="bytes")
    by_reason: Counter[str] = Counter()
    try:
        with text, ParquetSink(INGESTED, SCHEMA) as rows, JsonlSink(REJECTS) as rejects:
            for batch, batch_rejects in batches(parse(text, params.ingest), params.ingest.batch_rows):
                rows.write(batch)
                for reject in batch_rejects:
                    rejects.write(reject.to_json())
                    by_reason[reject.reason.value] += 1
                progress.update(raw.position)
            if rows.rows == 0 and rejects.count == 0:
                raise StageError("the file has a header but no records")
    except StageError as exc:
        raise StageError(f"{source}: {exc}") from None
    records = rows.rows + rejects.count
    write_metrics(
        STAGE,
        {
            "records": records,
            "rows": rows.rows,
            "rejected": rejects.count,
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "source": str(source),
            "source_sha256": raw.sha256.hexdigest(),
        },
    )
    reasons = ", ".join(f"{count} {reason}" for reason, count in by_reason.most_common()) or "none"
    return (
        f"ingest: read {records:,} records from {source} in {progress.elapsed:.1f} s: "
        f"{rows.rows:,} rows written to {INGESTED}, {rejects.count:,} rejected ({reasons})"
        + (f", see {REJECTS}" if rejects.count else "")
        + "."
    )


def main() -> int:
    return run_stage(STAGE, run)


if __name__ == "__main__":
    sys.exit(main())

"""Tests of pipeline/csvread.py: the two readers agree on hostile input, the fast reader finishes on clean input of
several blocks and stops with its reason on the rest, and the line reader takes any damage apart record by record."""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import csvread
from pipeline.csvread import LineReaderNeeded
from pipeline.io import StageError
from tests.helpers import make_params


def read_header(fields: list[str], line: int) -> csvread.Header:
    names = [name.strip() for name in fields]
    if "English" not in names or "French" not in names:
        raise StageError(f"line {line}: no English and French columns in {names}")
    return csvread.Header(names, names.index("English"), names.index("French"))


def ingest_params(**values):
    return make_params(ingest=values).ingest


def read_fast(path: Path, params) -> list[csvread.Chunk | LineReaderNeeded]:
    with io.BufferedReader(io.FileIO(path), csvread.READ_BLOCK) as stream:
        return list(csvread.read_fast(stream, path, params, read_header))


def read_lines(path: Path, params) -> list[csvread.Chunk]:
    with io.BufferedReader(io.FileIO(path), csvread.READ_BLOCK) as stream:
        return list(csvread.read_lines(stream, params, read_header))


def rows_and_bad_records(chunks: list[csvread.Chunk]) -> tuple[list[dict], list[tuple]]:
    return (
        [row for chunk in chunks for row in chunk.rows.to_pylist()],
        [tuple(bad) for chunk in chunks for bad in chunk.bad_records],
    )


def stops(items: list[csvread.Chunk | LineReaderNeeded]) -> list[LineReaderNeeded]:
    return [item for item in items if isinstance(item, LineReaderNeeded)]


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "raw.csv"
    path.write_bytes(content)
    return path


# The two readers agree on any file the fast reader finishes, and the fast reader finishes on clean files.

text = st.text(alphabet=st.sampled_from(list('ab é’;"\r\n,«»') + ["\u00a0"]), max_size=12)
raw_line = st.binary(min_size=1, max_size=6).map(lambda picks: bytes(b'ab;"\xe9\xff'[pick % 6] for pick in picks))


def csv_file(records: list[tuple[str, str] | bytes], line_end: str) -> bytes:
    """A file whose records are written by Python's CSV writer (pairs) or as they are (raw lines, maybe damaged)."""
    out = io.BytesIO()
    for record in [("English", "French"), *records]:
        if isinstance(record, tuple):
            line = io.StringIO()
            csv.writer(line, delimiter=";", lineterminator=line_end).writerow(record)
            out.write(line.getvalue().encode())
        else:
            out.write(record + line_end.encode())
    return out.getvalue()


def well_formed(record: tuple[str, str] | bytes, line_end: str) -> bool:
    """Whether a record is a row once written: a pair, not both sides empty, whose line breaks the writer quotes
    (Python 3.11's writer quotes only those of its line terminator)."""
    return (
        isinstance(record, tuple)
        and any(record)
        and all(char in line_end for side in record for char in side if char in "\r\n")
    )


# Arrow reports a record with both undecodable bytes and a wrong number of fields as an exception it cannot raise
# (it fails to decode the text it would give the invalid-row handler) before it stops with the error the fast reader
# turns into `UNREADABLE_BLOCK`.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(text, text), raw_line), max_size=12), st.sampled_from(["\n", "\r\n", "\r"]))
def test_fast_and_line_readers_agree(records, line_end):
    params = ingest_params(batch_rows=3)
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), csv_file(records, line_end))
        fast, lines = read_fast(path, params), read_lines(path, params)
    if all(well_formed(record, line_end) for record in records):
        # Its check of the last record's quotes may take a quoted line break for an open quote: a false alarm.
        assert set(stops(fast)) <= {LineReaderNeeded.OPEN_QUOTE_AT_END}, "well-formed records are the fast reader's"
    if not stops(fast):
        assert rows_and_bad_records(fast) == rows_and_bad_records(lines)


def clean_corpus(records: int) -> bytes:
    """Records of every shape a clean file has: CRLF line ends, quoted delimiters and quotes, line breaks inside
    quoted fields, an empty side, non-ASCII text; and single-line records with a wrong number of fields."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["English", "French"])
    for index in range(records):
        if index % 1000 == 999:
            out.write(f"a record with no delimiter {index}\r\n")
        elif index % 7 == 0:
            writer.writerow([f'The "loss"; step {index}\nnext line', f"La « perte » ; étape {index}\r\nsuite"])
        else:
            french = "" if index % 11 == 0 else f"Phrase {index} du cours."
            writer.writerow([f"Sentence {index} of the course.", french])
    return out.getvalue().encode()


def test_fast_reader_finishes_on_clean_input_of_several_blocks(tmp_path):
    content = clean_corpus(60_000)
    assert len(content) > 3 * csvread.READ_BLOCK
    path = write(tmp_path, content)
    params = ingest_params()
    fast = read_fast(path, params)
    assert not stops(fast)
    assert len(fast) > 3, "Arrow's reader yields one batch per block"
    rows, bad_records = rows_and_bad_records(fast)
    assert len(rows) == 60_000 - 60 and len(bad_records) == 60
    # Record 0 spans three lines, as do the records numbered by 7.
    assert rows[1] == {"line": 5, "english": "Sentence 1 of the course.", "french": "Phrase 1 du cours."}
    assert bad_records[0] == (
        2 + 999 + 2 * len(range(0, 999, 7)),
        "wrong_field_count",
        "expected 2 fields separated by ';', found 1",
        "a record with no delimiter 999",
    )
    assert (rows, bad_records) == rows_and_bad_records(read_lines(path, params))


@pytest.mark.parametrize(
    ("content", "why"),
    [
        pytest.param(b"English;French;French\nA;B;C\n", LineReaderNeeded.HEADER_NAMES, id="repeated-column-name"),
        pytest.param(
            b'"Eng\nlish";English;French\nA;B;C\n', LineReaderNeeded.HEADER_NAMES, id="multi-line-column-name"
        ),
        pytest.param(b"English;French\nA;B\ncaf\xe9;x\n", LineReaderNeeded.UNREADABLE_BLOCK, id="undecodable-bytes"),
        pytest.param(b"English;French\nA;B\n\nC;D\n", LineReaderNeeded.BLANK_RECORDS, id="blank-line"),
        pytest.param(b"English;French\nA;B\n;\nC;D\n", LineReaderNeeded.BLANK_RECORDS, id="record-of-empty-fields"),
        pytest.param(b'English;French\nA;B\n"a\nb\nc\nd";x\nC;D\n', LineReaderNeeded.LONG_RECORD, id="long-record"),
        pytest.param(
            b'English;French\nA;B\n"a\nb";x;y\nC;D\n',
            LineReaderNeeded.MULTILINE_WRONG_FIELD_COUNT,
            id="multi-line-record-with-wrong-field-count",
        ),
        pytest.param(
            b'English;French\nA;B\nC;"never closed', LineReaderNeeded.OPEN_QUOTE_AT_END, id="open-quote-at-end"
        ),
        pytest.param(
            b'English;French\nA;B\n"' + b"x" * (3 << 19) + b'";y\n',
            LineReaderNeeded.LONG_LAST_RECORD,
            id="last-record-longer-than-a-block",
        ),
    ],
)
def test_fast_reader_stops_with_its_reason(tmp_path, content, why):
    items = read_fast(write(tmp_path, content), ingest_params(max_record_lines=3))
    assert stops(items) == [why]
    assert items[-1] is why, "the reason is the last item"


@pytest.mark.parametrize("reader", [read_fast, read_lines])
def test_a_file_without_records_is_empty_to_both_readers(tmp_path, reader):
    with pytest.raises(StageError, match="the file is empty"):
        reader(write(tmp_path, b"\xef\xbb\xbf"), ingest_params())


@pytest.mark.parametrize("reader", [read_fast, read_lines])
def test_both_readers_leave_the_header_to_the_caller(tmp_path, reader):
    with pytest.raises(StageError, match="line 1: no English and French columns"):
        reader(write(tmp_path, b"Source;Target\nA;B\n"), ingest_params())


# The line reader.


def test_line_reader_takes_damage_apart_record_by_record(tmp_path):
    content = (
        b'English;French\nA;B\n"never closed;x\nC;D\ncaf\xe9;caf\xe9\nx;y;z\n"two\nlines";E\nF;"open at the end\nG;H\n'
    )
    params = ingest_params(batch_rows=2, max_record_lines=3)
    rows, bad_records = rows_and_bad_records(read_lines(write(tmp_path, content), params))
    assert rows == [
        {"line": 2, "english": "A", "french": "B"},
        {"line": 4, "english": "C", "french": "D"},
        {"line": 7, "english": "two\nlines", "french": "E"},
        {"line": 10, "english": "G", "french": "H"},
    ]
    assert [(line, reason, raw) for line, reason, _, raw in bad_records] == [
        (3, "unterminated_quote", '"never closed;x'),
        (5, "undecodable_bytes", "caf\ufffd;caf\ufffd"),
        (6, "wrong_field_count", "x;y;z"),
        (9, "unterminated_quote", 'F;"open at the end'),
    ]


def test_line_reader_gives_chunks_of_batch_rows_with_the_bad_records_met_meanwhile(tmp_path):
    content = b"English;French\nA;B\nbad\nC;D\nE;F\nbad\n"
    chunks = read_lines(write(tmp_path, content), ingest_params(batch_rows=2))
    assert [(chunk.rows.num_rows, [bad.line for bad in chunk.bad_records]) for chunk in chunks] == [(2, [3]), (1, [6])]
    assert all(chunk.rows.schema == csvread.ROW_SCHEMA for chunk in chunks)


# The file around the readers.


def test_last_lines_keeps_line_ends_and_says_when_a_block_does_not_hold_them(tmp_path):
    params = ingest_params()
    short = write(tmp_path, b"English;French\r\nA;B\rC;D\nE;F")
    assert csvread._last_lines(short, 2, params) == ["C;D\n", "E;F"]
    assert csvread._last_lines(short, 9, params) == ["English;French\r\n", "A;B\r", "C;D\n", "E;F"]
    long = write(tmp_path, b"English;French\n" + b"x" * csvread.READ_BLOCK + b"\nlast\n")
    assert csvread._last_lines(long, 1, params) == ["last\n"]
    assert csvread._last_lines(long, 2, params) is None


def test_hashing_reader_hashes_and_counts_what_is_read(tmp_path):
    content = bytes(range(256)) * 10_000
    with csvread.HashingReader(write(tmp_path, content)) as file:
        assert io.BufferedReader(file, 4096).read() == content
        assert file.position == len(content)
        assert file.sha256.hexdigest() == hashlib.sha256(content).hexdigest()

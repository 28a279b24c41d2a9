"""Tests of pipeline/ingest.py: every dialect and damage case, the golden seed sample, and which reader reads."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from functools import partial

import pyarrow.parquet as pq
import pytest

from pipeline import csvread, ingest
from pipeline.io import StageError
from tests.helpers import SEED, make_params, reconstruction, stage_paths


def run_on(tmp_path, monkeypatch, content: bytes, **ingest_params):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw.csv").write_bytes(content)
    paths = stage_paths("ingest", tmp_path)
    summary = ingest.run(make_params(ingest=ingest_params), paths)
    rows = pq.read_table(paths.output).to_pylist()
    rejects = [json.loads(line) for line in paths.rejects.read_text(encoding="utf-8").splitlines()]
    metrics = json.loads(paths.metrics.read_text())
    return rows, rejects, metrics, summary


def fails_on(tmp_path, monkeypatch, content: bytes | None, **ingest_params) -> str:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "raw.csv").write_bytes(content)
    paths = stage_paths("ingest", tmp_path)
    with pytest.raises(StageError) as failure:
        ingest.run(make_params(ingest=ingest_params), paths)
    assert not paths.output.exists(), "a failed run must leave no output for DVC to cache"
    assert not paths.metrics.exists()
    assert not list(tmp_path.rglob("*.tmp")), "temporary files must be cleaned up"
    return str(failure.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"English;French\nHello;Bonjour\n", [(2, "Hello", "Bonjour")], id="lf"),
        pytest.param(
            b"English;French\r\nHello;Bonjour\r\nYes;Oui\r\n", [(2, "Hello", "Bonjour"), (3, "Yes", "Oui")], id="crlf"
        ),
        pytest.param(b"\xef\xbb\xbfEnglish;French\r\nHello;Bonjour\r\n", [(2, "Hello", "Bonjour")], id="bom"),
        pytest.param(
            b"English;French\r\nA;B\nC;D\rE;F",
            [(2, "A", "B"), (3, "C", "D"), (4, "E", "F")],
            id="mixed-line-ends-no-final-newline",
        ),
        pytest.param(
            b'English;French\n"Note; see below";"Remarque ; voir plus bas"\n',
            [(2, "Note; see below", "Remarque ; voir plus bas")],
            id="quoted-delimiter",
        ),
        pytest.param(
            'English;French\n"The ""loss"" term";"Le terme « loss »"\n'.encode(),
            [(2, 'The "loss" term', "Le terme « loss »")],
            id="doubled-quotes",
        ),
        pytest.param(
            b'English;French\n"First item\r\nSecond item";"Premier\nSecond"\nNext;Suivant\n',
            [(2, "First item\r\nSecond item", "Premier\nSecond"), (5, "Next", "Suivant")],
            id="newlines-in-quoted-fields",
        ),
        pytest.param(
            b"English;French\nHello;Bonjour\n\n\nYes;Oui\n",
            [(2, "Hello", "Bonjour"), (5, "Yes", "Oui")],
            id="blank-lines-skipped-but-counted",
        ),
        pytest.param(b"French;English\nBonjour;Hello\n", [(2, "Hello", "Bonjour")], id="columns-found-by-name"),
        pytest.param(b"English;French\nProblem Motivation;\n", [(2, "Problem Motivation", None)], id="empty-french"),
        pytest.param(
            b"English;French\nHello;Bonjour\n;\nYes;Oui\n",
            [(2, "Hello", "Bonjour"), (3, None, None), (4, "Yes", "Oui")],
            id="record-of-empty-fields-is-kept",
        ),
    ],
)
def test_reads_dialects(tmp_path, monkeypatch, content, expected):
    rows, rejects, metrics, _ = run_on(tmp_path, monkeypatch, content)
    assert [(row["line"], row["english"], row["french"]) for row in rows] == expected
    assert rejects == []
    assert metrics["records"] == metrics["rows"] == len(expected)


def test_reads_other_delimiter_quote_and_encoding(tmp_path, monkeypatch):
    content = "English,French\n'Déjà, vu',Déjà vu\n".encode("latin-1")
    rows, _, _, _ = run_on(tmp_path, monkeypatch, content, delimiter=",", quotechar="'", encoding="latin-1")
    assert rows == [{"source": "raw.csv", "line": 2, "english": "Déjà, vu", "french": "Déjà vu"}]


@pytest.mark.parametrize(
    ("content", "reason", "line", "raw", "kept_lines"),
    [
        pytest.param(
            b"English;French\nA;B\nno delimiter here\nC;D\n",
            "wrong_field_count",
            3,
            "no delimiter here",
            [2, 4],
            id="too-few-fields",
        ),
        pytest.param(b"English;French\nA;B\nx;y;z\nC;D\n", "wrong_field_count", 3, "x;y;z", [2, 4], id="too-many"),
        pytest.param(
            b"English;French\nA;B\ncaf\xe9;caf\xe9\nC;D\n",
            "undecodable_bytes",
            3,
            "caf\ufffd;caf\ufffd",
            [2, 4],
            id="latin-1-bytes-in-utf-8",
        ),
        pytest.param(
            b'English;French\nA;B\n"never closed;x\nC;D\nE;F\n',
            "unterminated_quote",
            3,
            '"never closed;x',
            [2, 4, 5],
            id="unterminated-quote-mid-file",
        ),
        pytest.param(
            b'English;French\nA;B\nC;"never closed',
            "unterminated_quote",
            3,
            'C;"never closed',
            [2],
            id="unterminated-quote-at-end",
        ),
    ],
)
def test_damaged_records_are_rejected_and_reading_goes_on(
    tmp_path, monkeypatch, content, reason, line, raw, kept_lines
):
    rows, rejects, metrics, summary = run_on(tmp_path, monkeypatch, content)
    assert [row["line"] for row in rows] == kept_lines
    assert len(rejects) == 1
    assert rejects[0]["line"] == line
    assert rejects[0]["stage"] == "ingest"
    assert rejects[0]["reasons"] == [reason]
    assert rejects[0]["raw"] == raw
    assert rejects[0]["message"]
    assert metrics["records"] == metrics["rows"] + metrics["rejected"] == len(kept_lines) + 1
    assert metrics["rejected_by_reason"] == {reason: 1}
    assert reason in summary and "ingest.jsonl" in summary


def test_unterminated_quote_in_a_long_file_only_costs_its_line(tmp_path, monkeypatch):
    body = "".join(f"Sentence {i};Phrase {i}\n" for i in range(500))
    content = ("English;French\n" + '"stray quote;x\n' + body).encode()
    rows, rejects, metrics, _ = run_on(tmp_path, monkeypatch, content, max_record_lines=50)
    assert [reject["line"] for reject in rejects] == [2]
    assert len(rows) == 500
    assert rows[0] == {"source": "raw.csv", "line": 3, "english": "Sentence 0", "french": "Phrase 0"}
    assert metrics["records"] == 501


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "no such file", id="missing"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"English;French\n", "no records", id="header-only"),
        pytest.param(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "not a text file", id="binary"),
        pytest.param(
            b"Source;Target\nHello;Bonjour\n", "expected the columns 'English' and 'French'", id="wrong-names"
        ),
        pytest.param(b"English,French\nHello,Bonjour\n", "set ingest.delimiter to ','", id="other-delimiter"),
        pytest.param(b"English\tFrench\nHello\tBonjour\n", "set ingest.delimiter to '\\t'", id="tab-delimited"),
    ],
)
def test_unusable_files_fail_with_one_clear_message(tmp_path, monkeypatch, content, message):
    error = fails_on(tmp_path, monkeypatch, content)
    assert message in error
    assert "raw.csv" in error


def test_golden_seed_sample(tmp_path, monkeypatch):
    rows, rejects, metrics, _ = run_on(tmp_path, monkeypatch, SEED.read_bytes())
    assert len(rows) == 100 and rejects == []
    assert [row["line"] for row in rows] == list(range(2, 102))
    assert rows[0] == {"source": "raw.csv", "line": 2, "english": "Week 1", "french": "Semaine 1"}
    empty_french = [row for row in rows if row["french"] is None]
    assert empty_french == [
        {
            "source": "raw.csv",
            "line": 82,
            "english": "Problem Motivation, Linear Algebra, and Visualization",
            "french": None,
        }
    ]
    assert any("’" in row["french"] for row in rows if row["french"]), "typographic apostrophes are kept as is"
    assert metrics == {
        "records": 100,
        "rows": 100,
        "rejected": 0,
        "rejected_by_reason": {},
        "source": "raw.csv",
        "source_sha256": "839864d5560260f1fce38ec80f860dffda0f2406e744874fbba2eeda82427036",
        "files": {
            "raw.csv": {
                "records": 100,
                "rows": 100,
                "rejected": 0,
                "rejected_by_reason": {},
                "sha256": "839864d5560260f1fce38ec80f860dffda0f2406e744874fbba2eeda82427036",
            }
        },
    }


def test_reads_every_record_of_the_reconstruction(tmp_path, monkeypatch):
    rows, rejects, metrics, _ = run_on(tmp_path, monkeypatch, reconstruction().read_bytes())
    assert metrics["records"] == 2292 and metrics["rejected"] == 0 and rejects == []
    with reconstruction().open(encoding="utf-8", newline="") as file:
        expected = [(english or None, french or None) for english, french in list(csv.reader(file, delimiter=";"))[1:]]
    assert [(row["english"], row["french"]) for row in rows] == expected


def test_large_batches_are_split(tmp_path, monkeypatch):
    body = "".join(f"Sentence {i};Phrase {i}\n" for i in range(1000))
    rows, _, metrics, _ = run_on(tmp_path, monkeypatch, ("English;French\n" + body).encode(), batch_rows=64)
    assert metrics["rows"] == 1000
    assert [row["line"] for row in rows] == list(range(2, 1002))


# Clean files take the fast reader, however long; the line reader reads again only files it alone can take apart.


def clean_file(records: int) -> bytes:
    """CRLF line ends, quoted delimiters, quotes and line breaks, and a record with a wrong number of fields."""
    body = "".join(
        f'"Step {i}; see ""below""\r\nand after";Étape {i}\r\n' if i % 5 == 0 else f"Sentence {i};Phrase {i}\r\n"
        for i in range(records)
    )
    return ("English;French\r\n" + body + "no delimiter here\r\n").encode()


def test_a_clean_file_of_several_blocks_takes_the_fast_reader(tmp_path, monkeypatch):
    content = clean_file(100_000)
    assert len(content) > 2 * csvread.READ_BLOCK
    rows, rejects, metrics, summary = run_on(tmp_path, monkeypatch, content)
    assert "(fast reader)" in summary
    assert metrics["rows"] == 100_000 and metrics["rejected_by_reason"] == {"wrong_field_count": 1}
    assert rows[1] == {"source": "raw.csv", "line": 4, "english": "Sentence 1", "french": "Phrase 1"}
    assert rejects[0]["line"] == 100_000 + 100_000 // 5 + 2


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        pytest.param(b"caf\xe9;caf\xe9\r\n", "undecodable bytes", id="undecodable-bytes"),
        pytest.param(b'"never closed;x\r\n', "a quote that may be left open at the end of the file", id="open-quote"),
        pytest.param(b"\r\n", "blank lines", id="blank-line"),
    ],
)
def test_a_damaged_file_takes_the_line_reader_and_says_why(tmp_path, monkeypatch, damage, why):
    rows, _, metrics, summary = run_on(tmp_path, monkeypatch, clean_file(100_000) + damage)
    assert f"(line reader, as the file has {why}" in summary
    assert metrics["rows"] == len(rows) == 100_000


def test_a_fast_read_that_stops_keeps_no_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw.csv").write_bytes(clean_file(100_000) + b'"never closed;x\r\n')
    paths = stage_paths("ingest", tmp_path)
    params = make_params().ingest
    (file,) = ingest.raw_files(params.source)
    outputs = partial(ingest._stage_outputs, paths)
    assert ingest._write(file, params, outputs, fast=True) == csvread.LineReaderNeeded.OPEN_QUOTE_AT_END
    assert not paths.output.exists() and not paths.rejects.exists()
    assert not list(tmp_path.rglob("*.tmp"))


# A directory of raw files: each is read on its own (one damaged, one read by the line reader), in name order.
FILES = {
    "b-week2.csv": b"English;French\nWeek 2;Semaine 2\nBroken;record;here\nLoss;Perte\n",
    "a-week1.csv": b'English;French\r\nWeek 1;Semaine 1\r\n\r\n"never closed;x\r\nGradient;Gradient\r\n',
    "c-week3.csv": b"English;French\nCourse plan;Plan du cours\n",
    "notes.txt": b"not a raw file",
}


def run_on_directory(tmp_path, monkeypatch, engine=None):
    (tmp_path / "raw").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    for name, content in FILES.items():
        (tmp_path / "raw" / name).write_bytes(content)
    paths = stage_paths("ingest", tmp_path)
    summary = ingest.run(make_params("raw", engine=engine or {}), paths)
    rows = pq.read_table(paths.output).to_pylist()
    rejects = [json.loads(line) for line in paths.rejects.read_text(encoding="utf-8").splitlines()]
    metrics = json.loads(paths.metrics.read_text())
    files = {path: path.read_bytes() for path in (paths.output, paths.rejects, paths.metrics)}
    return rows, rejects, metrics, summary, files


@pytest.mark.parametrize("workers", [1, 2])
def test_a_directory_is_read_file_by_file_in_name_order_and_accounted_for_per_file(tmp_path, monkeypatch, workers):
    rows, rejects, metrics, summary, _ = run_on_directory(tmp_path, monkeypatch, {"workers": workers})
    assert [(row["source"], row["line"], row["english"]) for row in rows] == [
        ("a-week1.csv", 2, "Week 1"),
        ("a-week1.csv", 5, "Gradient"),
        ("b-week2.csv", 2, "Week 2"),
        ("b-week2.csv", 4, "Loss"),
        ("c-week3.csv", 2, "Course plan"),
    ]
    assert [(reject["source"], reject["line"], reject["reasons"]) for reject in rejects] == [
        ("a-week1.csv", 4, ["unterminated_quote"]),
        ("b-week2.csv", 3, ["wrong_field_count"]),
    ]
    assert set(metrics["files"]) == {"a-week1.csv", "b-week2.csv", "c-week3.csv"}
    for name, counts in metrics["files"].items():
        assert counts["records"] == counts["rows"] + counts["rejected"]
        assert counts["sha256"] == hashlib.sha256(FILES[name]).hexdigest()
    assert metrics["files"]["a-week1.csv"] == {
        "records": 3,
        "rows": 2,
        "rejected": 1,
        "rejected_by_reason": {"unterminated_quote": 1},
        "sha256": hashlib.sha256(FILES["a-week1.csv"]).hexdigest(),
    }
    assert metrics["records"] == sum(counts["records"] for counts in metrics["files"].values()) == 7
    assert metrics["rows"] == 5 and metrics["rejected"] == 2
    assert metrics["rejected_by_reason"] == {"unterminated_quote": 1, "wrong_field_count": 1}
    listing = "".join(f"{metrics['files'][name]['sha256']}  {name}\n" for name in sorted(metrics["files"]))
    assert metrics["source"] == "raw" and metrics["source_sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    assert "a-week1.csv: line reader" in summary and "b-week2.csv: fast reader" in summary


def test_a_directory_gives_the_same_bytes_on_the_dask_engine(tmp_path, monkeypatch, dask_scheduler):
    local = run_on_directory(tmp_path / "local", monkeypatch)[-1]
    dask = run_on_directory(tmp_path / "dask", monkeypatch, {"kind": "dask", "address": dask_scheduler})[-1]
    assert list(local.values()) == list(dask.values())


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "raw: a directory without CSV files (*.csv)"),
        ({"a.csv": b"English;French\nA;B\n", "b.csv": b""}, "raw/b.csv: the file is empty"),
        ({"a.csv": b"English;French\nA;B\n", "b.csv": b"Anglais;Francais\nA;B\n"}, "raw/b.csv: line 1: expected"),
    ],
)
def test_a_directory_with_an_unusable_file_fails_naming_it(tmp_path, monkeypatch, files, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    for name, content in files.items():
        (tmp_path / "raw" / name).write_bytes(content)
    paths = stage_paths("ingest", tmp_path)
    with pytest.raises(StageError, match=re.escape(message)):
        ingest.run(make_params("raw", engine={"workers": 2}), paths)
    assert not paths.output.exists() and not paths.metrics.exists()

"""The split stage: duplicate merging, stable ids, leak-free group splits and pinning by the previous manifest."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import tempfile
import unicodedata
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.io import StageError, table_files
from pipeline.split import SCHEMA, split_file
from schema.manifest import ID_PREFIX, MANIFEST_FILE, build_manifest, id_digests, key_digest, row_id
from schema.params import SPLITS, EngineParams, SplitParams
from tests.helpers import reconstruction

Row = tuple[int, str, str]


def write_validated(path: Path, rows: list[Row], row_group_rows: int | None = None) -> Path:
    table = pa.table(
        {
            "source": pa.array(["raw.csv"] * len(rows), pa.string()),
            "line": pa.array([line for line, _, _ in rows], pa.int64()),
            "english": pa.array([english for _, english, _ in rows], pa.string()),
            "french": pa.array([french for _, _, french in rows], pa.string()),
            "flags": pa.array([["short"] if len(english) < 8 else [] for _, english, _ in rows], pa.list_(pa.string())),
        }
    )
    pq.write_table(table, path, row_group_size=row_group_rows)
    return path


def part_bytes(output: Path) -> list[tuple[str, bytes]]:
    """The split table's parts, by name."""
    return [(part.name, part.read_bytes()) for part in table_files(output)]


class Run:
    def __init__(self, folder: Path, rows: list[Row], params: SplitParams) -> None:
        self.output = folder / "split"
        self.rejects_path = folder / "duplicates.jsonl"
        self.metrics = split_file(
            write_validated(folder / "validated.parquet", rows), self.output, self.rejects_path, params
        )
        self.bytes = part_bytes(self.output)
        self.table = pa.concat_tables(pq.read_table(part) for part in table_files(self.output))
        self.rows = self.table.to_pylist()
        self.rejects = [json.loads(line) for line in self.rejects_path.read_text(encoding="utf-8").splitlines()]
        self.split_of = {row["id"]: row["split"] for row in self.rows}

    def manifest(self, folder: Path) -> Path:
        path = folder / MANIFEST_FILE
        pq.write_table(build_manifest(self.table), path)
        return path


def split_rows(rows: list[Row], params: SplitParams | None = None) -> Run:
    with tempfile.TemporaryDirectory() as folder:
        return Run(Path(folder), rows, params or SplitParams())


def assert_no_leak(rows: list[dict]) -> None:
    for side in ("english_key_sha256", "french_key_sha256"):
        splits_of: dict[bytes, set[str]] = defaultdict(set)
        for row in rows:
            splits_of[row[side]].add(row["split"])
        leaked = {key: splits for key, splits in splits_of.items() if len(splits) > 1}
        assert not leaked, f"{side} in several splits: {leaked}"


def assert_accounted(run: Run, rows_in: int) -> None:
    metrics = run.metrics
    assert metrics["rows_in"] == rows_in
    assert (
        rows_in == sum(metrics["rows_by_split"].values()) + metrics["duplicates_merged"] + metrics["cross_split_links"]
    )
    assert len(run.rows) == sum(metrics["rows_by_split"].values())
    assert len(run.rejects) == metrics["duplicates_merged"] + metrics["cross_split_links"]


# A small vocabulary with typographic and case variants, so that generated rows often share a side.
ENGLISH = [
    "Week 1",
    "Summary",
    "Energy-based models",
    "Let's train it!",
    "Why?",
    "The loss “explodes”.",
    "x + y",
    "Gradient descent",
    "Self-supervised learning",
    "Attention",
]
FRENCH = [
    "Semaine 1",
    "Résumé",
    "Modèles à base d’énergie",
    "Entraînons-le !",
    "Pourquoi ?",
    "La perte « explose ».",
    "x + y",
    "Descente de gradient",
    "Apprentissage autosupervisé",
    "Attention",
]


def _variant(text: str, style: int) -> str:
    if style == 1:
        return text.upper()
    if style == 2:
        return text.replace("’", "'").replace("« ", '"').replace(" »", '"').replace(" ?", "?").replace(" !", "!")
    if style == 3:
        return text + "."
    return text


@st.composite
def row_texts(draw: st.DrawFn) -> tuple[str, str]:
    english = draw(st.sampled_from(ENGLISH)) + draw(st.sampled_from(["", " 2", " 3", " (part two)"]))
    french = draw(st.sampled_from(FRENCH)) + draw(st.sampled_from(["", " 2", " 3", " (deuxième partie)"]))
    return _variant(english, draw(st.integers(0, 3))), _variant(french, draw(st.integers(0, 3)))


def numbered(texts: list[tuple[str, str]], first_line: int = 2) -> list[Row]:
    return [(first_line + index, english, french) for index, (english, french) in enumerate(texts)]


corpora = st.lists(row_texts(), min_size=1, max_size=40)
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(corpora)
def test_same_input_gives_byte_identical_output(texts: list[tuple[str, str]]) -> None:
    rows = numbered(texts)
    first, second = split_rows(rows), split_rows(rows)
    assert first.bytes == second.bytes
    assert first.rejects == second.rejects


@FAST
@given(corpora, st.randoms(use_true_random=False))
def test_row_order_changes_nothing(texts: list[tuple[str, str]], shuffler: random.Random) -> None:
    rows = numbered(texts)
    shuffled = rows[:]
    shuffler.shuffle(shuffled)
    original, permuted = split_rows(rows), split_rows(shuffled)
    assert permuted.bytes == original.bytes
    assert sorted(map(json.dumps, permuted.rejects)) == sorted(map(json.dumps, original.rejects))


@FAST
@given(corpora, corpora)
def test_appending_moves_only_groups_the_new_rows_touch(
    texts: list[tuple[str, str]], added: list[tuple[str, str]]
) -> None:
    before = split_rows(numbered(texts))
    after = split_rows(numbered(texts) + numbered(added, first_line=1000))
    added_english = {key_digest(english) for english, _ in added}
    added_french = {key_digest(french) for _, french in added}
    touched_groups = _groups_touching(before.rows, added_english, added_french)
    for row in before.rows:
        assert row["id"] in after.split_of
        if row["id"] not in touched_groups:
            assert after.split_of[row["id"]] == row["split"]
    assert_no_leak(after.rows)


def _groups_touching(rows: list[dict], english_keys: set[bytes], french_keys: set[bytes]) -> set[str]:
    """Ids of rows whose group (rows linked through a shared key) contains one of the keys."""
    touched = {
        row["id"]
        for row in rows
        if row["english_key_sha256"] in english_keys or row["french_key_sha256"] in french_keys
    }
    while True:
        english = {row["english_key_sha256"] for row in rows if row["id"] in touched}
        french = {row["french_key_sha256"] for row in rows if row["id"] in touched}
        grown = {
            row["id"] for row in rows if row["english_key_sha256"] in english or row["french_key_sha256"] in french
        }
        if grown == touched:
            return touched
        touched = grown


@FAST
@given(corpora, st.text(min_size=1, max_size=8))
def test_no_normalised_text_is_in_two_splits(texts: list[tuple[str, str]], salt: str) -> None:
    run = split_rows(numbered(texts), SplitParams(salt=salt))
    assert_no_leak(run.rows)
    assert_accounted(run, len(texts))
    assert len({(row["english_key_sha256"], row["french_key_sha256"]) for row in run.rows}) == len(run.rows)
    assert [row["id"] for row in run.rows] == sorted(row["id"] for row in run.rows)


@FAST
@given(corpora, st.lists(st.integers(0, 39), max_size=10), corpora, st.text(max_size=4))
def test_released_ids_keep_their_split(
    texts: list[tuple[str, str]], removed: list[int], added: list[tuple[str, str]], salt: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        released = Run(Path(folder), numbered(texts), SplitParams())
        manifest = released.manifest(Path(folder))
        kept = [text for index, text in enumerate(texts) if index not in removed]
        edited = [(english + " (edited)", french) for english, french in kept[:3]]
        with tempfile.TemporaryDirectory() as second:
            params = SplitParams(salt="reshuffled" + salt, previous_manifest=manifest)
            later = Run(Path(second), numbered(kept + added + edited), params)
    assert_accounted(later, len(kept) + len(added) + len(edited))
    for row in released.rows:
        if row["id"] in later.split_of:
            assert later.split_of[row["id"]] == row["split"]
    assert_no_leak(later.rows + released.rows)


def test_row_groups_keyed_on_several_processes_give_the_same_output(tmp_path: Path) -> None:
    rng = random.Random(7)
    texts = [
        (
            _variant(rng.choice(ENGLISH), rng.randrange(4)) + f" {rng.randrange(400)}",
            _variant(rng.choice(FRENCH), rng.randrange(4)) + f" {rng.randrange(400)}",
        )
        for _ in range(6_000)
    ]
    rows = numbered(texts)
    outputs = []
    for row_group_rows, workers in ((None, 1), (700, 2)):
        folder = tmp_path / str(workers)
        folder.mkdir()
        source = write_validated(folder / "validated.parquet", rows, row_group_rows)
        metrics = split_file(
            source, folder / "split", folder / "duplicates.jsonl", SplitParams(), EngineParams(workers=workers)
        )
        outputs.append((metrics, part_bytes(folder / "split"), (folder / "duplicates.jsonl").read_bytes()))
    assert pq.ParquetFile(tmp_path / "2" / "validated.parquet").metadata.num_row_groups > 2
    assert outputs[0][0]["duplicates_merged"] > 0
    assert outputs[1] == outputs[0]


def test_ratios_hold_on_many_groups() -> None:
    rng = random.Random(20)
    texts = [(f"sentence {rng.getrandbits(64):x}", f"phrase {rng.getrandbits(64):x}") for _ in range(20_000)]
    for salt in ("nyu-dlsp20-en-fr", "another salt", "a third"):
        run = split_rows(numbered(texts), SplitParams(salt=salt))
        assert run.metrics["groups"] == len(texts)
        for name in SPLITS:
            assert abs(run.metrics["ratio_deviation"][name]) <= 0.02, run.metrics


@settings(max_examples=10, deadline=None)
@given(
    st.sampled_from(
        [
            {"train": 0.8, "validation": 0.1, "test": 0.1},
            {"train": 0.7, "validation": 0.15, "test": 0.15},
            {"train": 0.5, "validation": 0.0, "test": 0.5},
        ]
    ),
    st.text(max_size=6),
)
def test_each_split_is_within_two_points_of_its_ratio(ratios: dict[str, float], salt: str) -> None:
    texts = [(f"sentence number {index}", f"phrase numéro {index}") for index in range(12_000)]
    run = split_rows(numbered(texts), SplitParams(ratios=ratios, salt=salt))
    for name in SPLITS:
        assert abs(run.metrics["rows_by_split"][name] / len(texts) - ratios[name]) <= 0.02, run.metrics


def test_duplicates_are_merged_into_one_row_chosen_by_content() -> None:
    rows = [
        (2, "Summary", "Résumé"),
        (3, "Let’s go!", "Allons-y !"),
        (4, "SUMMARY.", "résumé"),
        (5, "Summary", "Résumé"),
        (6, "Let's go", "Allons-y!"),
        (7, "Let's go", "Allons-y!"),
    ]
    run = split_rows(rows)
    assert [(row["line"], row["english"]) for row in sorted(run.rows, key=lambda row: row["line"])] == [
        (4, "SUMMARY."),
        (6, "Let's go"),
    ]
    assert {row["id"] for row in run.rows} == {row_id("summary", "résumé"), row_id("let's go", "allons-y")}
    by_line = {reject["line"]: reject for reject in run.rejects}
    assert set(by_line) == {2, 3, 5, 7}
    assert by_line[7]["message"] == "exact duplicate of line 6 of raw.csv, which is kept"
    assert by_line[2]["message"] == (
        "duplicate after normalisation (case, spacing, punctuation variants) of line 4 of raw.csv, which is kept"
    )
    assert by_line[2]["merged_into"] == row_id("summary", "résumé")
    assert by_line[3]["reasons"] == ["duplicate"] and by_line[3]["stage"] == "split"
    assert (by_line[3]["english"], by_line[3]["french"]) == ("Let’s go!", "Allons-y !")
    assert run.metrics["duplicates_merged"] == 4


def test_rows_sharing_one_side_land_in_one_split() -> None:
    rows = numbered(
        [(f"Topic {index}", f"Sujet {index}") for index in range(200)]
        + [(f"Topic {index}", f"Thème {index}") for index in range(200)]
        + [(f"Subject {index}", f"Thème {index}") for index in range(200)]
    )
    run = split_rows(rows)
    assert run.metrics["groups"] == 200
    assert_no_leak(run.rows)
    assert len({row["split"] for row in run.rows}) == 3


def _released(folder: Path, rows: list[Row]) -> tuple[Run, Path]:
    run = Run(folder, rows, SplitParams())
    return run, run.manifest(folder)


def _pair_in_splits(first: str, second: str) -> tuple[Row, Row]:
    """Two unrelated rows that the default params put in the given splits."""
    index = 0
    found: dict[str, Row] = {}
    while first not in found or second not in found:
        row = (2 + index, f"Lecture {index}", f"Cours {index}")
        found.setdefault(split_rows([row]).rows[0]["split"], row)
        index += 1
    return found[first], found[second]


def test_pinned_rows_keep_their_split_whatever_the_salt(tmp_path: Path) -> None:
    rows = numbered([(f"Lecture {index}", f"Cours {index}") for index in range(300)])
    released, manifest = _released(tmp_path, rows)
    later = split_rows(rows, SplitParams(salt="another salt", previous_manifest=manifest))
    assert later.split_of == released.split_of
    assert later.metrics["pinned"] == 300
    unpinned = split_rows(rows, SplitParams(salt="another salt"))
    assert unpinned.split_of != released.split_of


def test_an_edited_row_inherits_the_split_of_the_side_it_keeps(tmp_path: Path) -> None:
    test_row, _ = _pair_in_splits("test", "train")
    released, manifest = _released(tmp_path, [test_row])
    edited = (test_row[0], test_row[1], test_row[2] + " (corrigé)")
    later = split_rows([edited], SplitParams(salt="another salt", previous_manifest=manifest))
    assert [row["split"] for row in later.rows] == ["test"]
    assert later.rows[0]["id"] != released.rows[0]["id"]
    assert later.metrics["pinned"] == 1


def test_a_new_row_linking_two_released_splits_is_withheld(tmp_path: Path) -> None:
    train_row, test_row = _pair_in_splits("train", "test")
    released, manifest = _released(tmp_path, [train_row, test_row])
    link = (900, train_row[1], test_row[2])
    bridge = [(901, train_row[1], "Pont"), (902, "Bridge", "Pont"), (903, "Bridge", test_row[2])]
    later = split_rows([train_row, test_row, link, *bridge], SplitParams(previous_manifest=manifest))
    assert later.split_of == released.split_of | {row["id"]: row["split"] for row in later.rows}
    assert {row["id"]: row["split"] for row in later.rows if row["line"] < 900} == released.split_of
    withheld = {reject["line"]: reject for reject in later.rejects}
    assert withheld[900]["reasons"] == ["cross_split_link"]
    assert withheld[900]["merged_into"] is None
    assert 902 in withheld
    assert {row["line"]: row["split"] for row in later.rows if row["line"] >= 900} == {901: "train", 903: "test"}
    assert later.metrics["cross_split_links"] == 2
    assert_accounted(later, 6)
    assert_no_leak(later.rows)


def test_a_manifest_that_leaked_is_refused(tmp_path: Path) -> None:
    rows = numbered([("Week 1", "Semaine 1"), ("Week 1", "Semaine une")])
    manifest = build_manifest(Run(tmp_path, rows, SplitParams()).table)
    leaked = manifest.set_column(1, "split", pa.array(["train", "test"]))
    pq.write_table(leaked, tmp_path / MANIFEST_FILE)
    with pytest.raises(StageError, match="released in two splits"):
        split_rows(rows, SplitParams(previous_manifest=tmp_path / MANIFEST_FILE))


def test_a_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="split.previous_manifest"):
        split_rows([(2, "Week 1", "Semaine 1")], SplitParams(previous_manifest=tmp_path / MANIFEST_FILE))


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="run the validate stage first"):
        split_file(tmp_path / "validated.parquet", tmp_path / "split", tmp_path / "d.jsonl", SplitParams())
    assert not (tmp_path / "split").exists()


def test_output_schema_is_the_contract(tmp_path: Path) -> None:
    run = Run(tmp_path, [(2, "Week 1", "Semaine 1")], SplitParams())
    assert run.table.schema.remove_metadata() == SCHEMA
    assert run.rows[0]["flags"] == ["short"]
    assert run.rows[0]["english_key_sha256"] == hashlib.sha256(b"week 1").digest() == key_digest("Week 1")


def test_every_id_can_be_checked_from_the_manifest_alone(tmp_path: Path) -> None:
    rows = [(2, "Week 1", "Semaine 1"), (3, "The gradient points uphill.", "Le gradient pointe vers le haut.")]
    manifest = pq.read_table(Run(tmp_path, rows, SplitParams()).manifest(tmp_path)).to_pylist()
    assert len(manifest) == 2
    for entry in manifest:
        (digest,) = id_digests([entry["english_key_sha256"]], [entry["french_key_sha256"]])
        assert entry["id"] == ID_PREFIX + digest.hex()


def _reconstruction_rows() -> list[Row]:
    rows = []
    with reconstruction().open(encoding="utf-8-sig", newline="") as file:
        records = csv.reader(file, delimiter=";")
        next(records)
        for line, record in enumerate(records, start=2):
            english, french = (" ".join(unicodedata.normalize("NFC", text).split()) for text in record[:2])
            if english and french:
                rows.append((line, english, french))
    return rows


def test_reconstruction_is_split_without_leaks(tmp_path: Path) -> None:
    rows = _reconstruction_rows()
    run = Run(tmp_path, rows, SplitParams())
    assert_accounted(run, len(rows))
    assert_no_leak(run.rows)
    assert run.metrics["duplicates_merged"] > 0
    assert len({(row["english_key_sha256"], row["french_key_sha256"]) for row in run.rows}) == len(run.rows)
    for name in SPLITS:
        assert abs(run.metrics["ratio_deviation"][name]) <= 0.02, run.metrics
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    assert split_rows(shuffled).bytes == run.bytes

"""Tests of pipeline/build.py on a tiny split table: the folder's layout, shards, card, citation and round trip."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import build
from pipeline.io import StageError
from pipeline.parallel import Workers
from pipeline.split import SCHEMA as SPLIT_SCHEMA
from schema.manifest import content_digests, key_digest, matching_key, row_id
from schema.params import EngineParams
from schema.release import SCHEMA as SHARD_SCHEMA
from schema.release import datasets_features
from tests.helpers import make_params, stage_paths

DATA = Path(__file__).resolve().parents[1] / "data" / "build"
GOLDEN = DATA / "expected_README.md"
GOLDEN_CITATION = DATA / "expected_CITATION.cff"
ROWS = json.loads((DATA / "rows.json").read_text(encoding="utf-8"))
# Small shards and row groups, so that the tiny input spans several of each.
BUILD = {"shard_rows": 3, "row_group_rows": 2}


def split_table(rows: list[dict]) -> pa.Table:
    keyed = []
    for row in rows:
        english_key, french_key = matching_key(row["english"]), matching_key(row["french"])
        (content,) = content_digests(pa.array([row["english"]]), pa.array([row["french"]])).to_pylist()
        keyed.append(
            {
                **row,
                "id": row_id(english_key, french_key),
                "english_key_sha256": key_digest(row["english"]),
                "french_key_sha256": key_digest(row["french"]),
                "content_sha256": content,
            }
        )
    return pa.Table.from_pylist(keyed, schema=SPLIT_SCHEMA).sort_by("id")


def stage_inputs(folder: Path, rows: list[dict] = ROWS) -> None:
    paths = stage_paths("build", folder)
    paths.input.mkdir(parents=True, exist_ok=True)
    pq.write_table(split_table(rows), paths.input / "part-00000.parquet")
    for stage in ("ingest", "validate", "split"):
        target = getattr(paths, f"{stage}_metrics")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA / "metrics" / f"{stage}.json", target)


def run_build(folder: Path, **sections: dict) -> dict:
    """Runs the stage with `folder` as the working directory, as DVC would run it from the repo root."""
    stage_inputs(folder)
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        params = make_params(
            build=BUILD | sections.pop("build", {}), release={"version": "1.0.0", "date": "2026-11-26"}, **sections
        )
        return build.build(params, stage_paths("build", folder))
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("built")
    return folder, run_build(folder)


def test_the_folder_is_exactly_the_repo(built):
    folder, _ = built
    hub = folder / "dist" / "hub"
    files = sorted(str(path.relative_to(hub)) for path in hub.rglob("*") if path.is_file())
    assert files == [
        "CHANGELOG.md",
        "CITATION.cff",
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00003.parquet",
        "data/train-00001-of-00003.parquet",
        "data/train-00002-of-00003.parquet",
        "data/validation-00000-of-00001.parquet",
        "manifest.parquet",
    ]
    assert not list(folder.glob("dist/.*")), "no staging folder is left behind"


def test_shards_hold_each_split_sorted_by_id_with_datasets_features(built):
    import datasets

    folder, _ = built
    expected = split_table(ROWS)
    for name in ("train", "validation", "test"):
        shards = sorted((folder / "dist" / "hub" / "data").glob(f"{name}-*.parquet"))
        table = pa.concat_tables(pq.read_table(path) for path in shards)
        want = expected.filter(pa.compute.equal(expected["split"], name))
        assert table["id"].to_pylist() == want["id"].to_pylist() == sorted(want["id"].to_pylist())
        assert table["translation"].to_pylist() == [
            {"en": en, "fr": fr} for en, fr in zip(want["english"].to_pylist(), want["french"].to_pylist(), strict=True)
        ]
        assert table["line"].to_pylist() == want["line"].to_pylist()
        assert table["flags"].to_pylist() == want["flags"].to_pylist()
        for path in shards:
            file = pq.ParquetFile(path)
            assert file.metadata.num_rows <= BUILD["shard_rows"]
            assert all(
                file.metadata.row_group(i).num_rows <= BUILD["row_group_rows"]
                for i in range(file.metadata.num_row_groups)
            )
            assert datasets.Features.from_arrow_schema(file.schema_arrow) == datasets_features()
            assert file.schema_arrow.metadata == SHARD_SCHEMA.metadata


def test_two_builds_of_the_same_input_are_byte_identical(built, tmp_path):
    folder, metrics = built
    assert run_build(tmp_path) == metrics
    first, second = folder / "dist" / "hub", tmp_path / "dist" / "hub"
    names = sorted(str(path.relative_to(first)) for path in first.rglob("*") if path.is_file())
    assert names == sorted(str(path.relative_to(second)) for path in second.rglob("*") if path.is_file())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for name in ("plots/lengths_english.csv", "plots/lengths_french.csv", "plots/length_ratio.csv"):
        assert (folder / name).read_bytes() == (tmp_path / name).read_bytes(), name


def against_golden(built_file: Path, golden: Path) -> tuple[str, str]:
    """A built file's text and the golden file's; `REGENERATE_GOLDEN=1` rewrites the golden file first."""
    text = built_file.read_text(encoding="utf-8")
    if os.environ.get("REGENERATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    return text, golden.read_text(encoding="utf-8")


def test_the_card_matches_the_golden_file(built):
    folder, _ = built
    card, expected = against_golden(folder / "dist" / "hub" / "README.md", GOLDEN)
    assert card == expected


def test_the_citation_matches_the_golden_file(built):
    """Down to its reference to the course it translates: title, authors, URL, code repository and licence."""
    folder, _ = built
    citation, expected = against_golden(folder / "dist" / "hub" / "CITATION.cff", GOLDEN_CITATION)
    assert citation == expected


def test_the_card_states_the_pipeline_numbers(built):
    folder, metrics = built
    card = (folder / "dist" / "hub" / "README.md").read_text(encoding="utf-8")
    assert "| train | 7 | 3 |" in card and "| validation | 2 | 1 |" in card and "| test | 2 | 1 |" in card
    assert (
        "Records: 15; rejected: 3; merged as duplicates:\n1; held back as cross-split links: 0; released: 11." in card
    )
    assert "| `wrong_field_count (ingest)` | 1 |" in card and "| `markdown_emphasis` | 1 |" in card
    assert 'revision="v1.0.0"' in card and "First release" in card
    assert "Frank Rosenblatt" in card, "the example is a real row"
    assert metrics["rows_by_split"] == {"train": 7, "validation": 2, "test": 2}
    assert metrics["download_bytes_by_split"]["train"] == sum(
        path.stat().st_size for path in (folder / "dist" / "hub" / "data").glob("train-*")
    )


def test_the_card_metadata_is_what_the_hub_reads(built):
    from huggingface_hub import DatasetCard

    folder, metrics = built
    data = DatasetCard.load(folder / "dist" / "hub" / "README.md").data.to_dict()
    assert data["license"] == "cc-by-nc-sa-4.0"
    assert data["task_categories"] == ["translation"] and data["language"] == ["en", "fr"]
    assert data["size_categories"] == ["n<1K"]
    info = data["dataset_info"]
    assert {split["name"]: split["num_examples"] for split in info["splits"]} == metrics["rows_by_split"]
    assert {split["name"]: split["num_bytes"] for split in info["splits"]} == metrics["num_bytes_by_split"]
    assert data["configs"][0]["data_files"][0] == {"split": "train", "path": "data/train-*.parquet"}


def test_it_loads_back_with_datasets(built, tmp_path):
    import datasets

    folder, _ = built
    loaded = datasets.load_dataset(str(folder / "dist" / "hub"), cache_dir=str(tmp_path))
    assert {name: split.num_rows for name, split in loaded.items()} == {"train": 7, "validation": 2, "test": 2}
    pairs = {row["id"]: row["translation"] for split in loaded.values() for row in split}
    expected = split_table(ROWS).to_pylist()
    assert pairs == {row["id"]: {"en": row["english"], "fr": row["french"]} for row in expected}


def test_verification_catches_a_shard_that_differs(tmp_path):
    stage_inputs(tmp_path)
    params = make_params(build=BUILD)
    with Workers() as workers:
        written = build.write_release(tmp_path / "data" / "split", tmp_path / "hub", params.build, "1.0.0", workers)
    shard = tmp_path / "hub" / "data" / "test-00000-of-00001.parquet"
    table = pq.read_table(shard)
    translation = table["translation"].to_pylist()
    translation[0]["fr"] += " (modifié)"
    pq.write_table(table.set_column(1, "translation", pa.array(translation, table.schema.field(1).type)), shard)
    with pytest.raises(StageError, match="test: content differs"):
        build.verify(tmp_path / "hub", written.summaries)


def test_the_release_is_the_same_whichever_way_the_split_table_is_cut_and_however_many_workers_write_it(tmp_path):
    releases = []
    for files, workers in ((1, 1), (3, 2)):
        folder = tmp_path / f"{files}-{workers}"
        stage_inputs(folder)
        table_folder = folder / "data" / "split"
        table = pq.read_table(table_folder / "part-00000.parquet")
        (table_folder / "part-00000.parquet").unlink()
        cut = -(-table.num_rows // files)
        for index in range(files):
            pq.write_table(table.slice(index * cut, cut), table_folder / f"part-{index:05d}.parquet")
        params = make_params(build=BUILD)
        with Workers(EngineParams(workers=workers)) as pool:
            written = build.write_release(table_folder, folder / "hub", params.build, "1.0.0", pool)
        releases.append(
            (
                {path.relative_to(folder / "hub"): path.read_bytes() for path in (folder / "hub").rglob("*.parquet")},
                {name: (summary.facts(), summary.digest) for name, summary in written.summaries.items()},
            )
        )
    assert len(releases[0][0]) == 6
    assert releases[0] == releases[1]


def test_citation_cff_is_valid(built):
    folder, _ = built
    cffconvert = Path(sys.executable).with_name("cffconvert")
    if not cffconvert.exists():
        pytest.skip("cffconvert is not installed (pip install -e '.[test]')")
    checked = subprocess.run(
        [str(cffconvert), "--validate", "-i", str(folder / "dist" / "hub" / "CITATION.cff")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = (folder / "dist" / "hub" / "CITATION.cff").read_text(encoding="utf-8")
    assert "type: dataset" in text and "version: 1.0.0" in text and "date-released: '2026-11-26'" in text


def test_plots_are_shares_per_split(built):
    folder, _ = built
    with (folder / "plots" / "lengths_french.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["chars", "train", "validation", "test"]
    for split in ("train", "validation", "test"):
        assert sum(float(row[split]) for row in rows) == pytest.approx(100, abs=0.01)


def test_a_bad_template_fails_before_anything_is_written(tmp_path, monkeypatch):
    stage_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    template = tmp_path / "card.md"
    template.write_text("---\n${front_matter}---\n${no_such_fact}\n", encoding="utf-8")
    with pytest.raises(StageError, match="unknown placeholders no_such_fact"):
        build.build(make_params(), dataclasses.replace(stage_paths("build", tmp_path), template=template))
    assert not (tmp_path / "dist").exists()


def test_a_missing_split_table_names_the_stage_to_run(tmp_path):
    with pytest.raises(StageError, match="run the split stage first"):
        build.build(make_params(), dataclasses.replace(stage_paths("build", tmp_path), input=tmp_path / "split"))

"""Tests of pipeline/changelog.py: the row-level diff of two manifests, the bump it requires, and its rendering."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import changelog
from pipeline.changelog import diff, render_markdown
from schema.manifest import SCHEMA as MANIFEST_SCHEMA
from schema.manifest import build_manifest, content_digests, key_digest, matching_key, row_id

RELEASED = [
    ("train", "Week 1", "Semaine 1"),
    ("train", "The gradient points uphill.", "Le gradient pointe vers le haut."),
    ("validation", "Energy-based models", "Modèles à base d’énergie"),
    ("test", "Attention is a soft lookup.", "L’attention est une recherche souple."),
]


def manifest(rows: list[tuple[str, str, str]]) -> pa.Table:
    english_keys = [matching_key(english) for _, english, _ in rows]
    french_keys = [matching_key(french) for _, _, french in rows]
    english, french = pa.array([english for _, english, _ in rows]), pa.array([french for _, _, french in rows])
    return build_manifest(
        pa.table(
            {
                "id": [row_id(e, f) for e, f in zip(english_keys, french_keys, strict=True)],
                "split": [split for split, _, _ in rows],
                "english_key_sha256": [key_digest(english) for _, english, _ in rows],
                "french_key_sha256": [key_digest(french) for _, _, french in rows],
                "content_sha256": content_digests(english, french),
            }
        )
    )


def test_same_rows_need_only_a_patch():
    changes = diff(manifest(RELEASED), manifest(list(reversed(RELEASED))))
    assert (changes.added, changes.removed, changes.changed, changes.moved) == ({}, {}, {}, {})
    assert changes.unchanged == 4 and changes.required_bump() == "patch"


def test_added_rows_need_a_minor():
    changes = diff(manifest(RELEASED), manifest(RELEASED + [("train", "Week 2", "Semaine 2")]))
    assert changes.added == {"train": 1} and changes.required_bump() == "minor"


@pytest.mark.parametrize(
    ("edited", "why"),
    [
        (("train", "The gradient points uphill.", "Le gradient pointe vers le haut !"), "same keys, other text"),
        (("train", "The gradient points uphill.", "Le gradient indique la montée."), "French fixed, English kept"),
        (("train", "The gradient points up the slope.", "Le gradient pointe vers le haut."), "English fixed"),
    ],
)
def test_a_fixed_row_is_changed_not_removed_and_added(edited, why):
    current = [edited if row[1:] == RELEASED[1][1:] else row for row in RELEASED]
    changes = diff(manifest(RELEASED), manifest(current))
    assert changes.changed == {"train": 1}, why
    assert changes.added == {} and changes.removed == {}
    assert changes.required_bump() == "minor"


def test_a_fixed_row_in_another_split_has_moved():
    current = [RELEASED[0], ("test", "The gradient points uphill.", "Le gradient indique la montée."), *RELEASED[2:]]
    changes = diff(manifest(RELEASED), manifest(current))
    assert changes.moved == {("train", "test"): 1} and changes.required_bump() == "major"


def test_a_row_that_keeps_its_id_in_another_split_has_moved():
    current = [RELEASED[0], ("test", *RELEASED[1][1:]), *RELEASED[2:]]
    before, after = manifest(RELEASED), manifest(current)
    assert set(after["id"].to_pylist()) == set(before["id"].to_pylist()), "the same ids, one of them re-split"
    changes = diff(before, after)
    assert changes.moved == {("train", "test"): 1} and changes.required_bump() == "major"
    assert (changes.added, changes.removed, changes.changed) == ({}, {}, {})


def test_removed_rows_need_a_major():
    changes = diff(manifest(RELEASED), manifest(RELEASED[:3]))
    assert changes.removed == {"test": 1} and changes.required_bump() == "major"


def test_a_first_release_adds_everything():
    changes = diff(None, manifest(RELEASED))
    assert changes.first_release and changes.added == {"train": 2, "validation": 1, "test": 1}
    assert "First release" in render_markdown(changes, None, "1.0.0")


def test_the_markdown_names_both_versions_and_every_count():
    changes = diff(manifest(RELEASED), manifest(RELEASED[1:] + [("validation", "Week 2", "Semaine 2")]))
    text = render_markdown(changes, "1.0.0", "2.0.0")
    assert text.startswith("## 2.0.0\n") and "v1.0.0 (4 rows)" in text
    assert "- added: 1 (validation 1)" in text and "- removed: 1 (train 1)" in text
    assert "- moved between splits: 0" in text and "MAJOR" in text


def test_the_command_line_prints_the_diff_of_two_files(tmp_path, capsys):
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    pq.write_table(manifest(RELEASED).replace_schema_metadata({changelog.VERSION_METADATA: b"1.0.0"}), old)
    pq.write_table(manifest(RELEASED + [("test", "Week 2", "Semaine 2")]), new)
    assert changelog.main([str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "Compared with v1.0.0" in out and "- added: 1 (test 1)" in out and "MINOR" in out
    assert changelog.main([str(old), str(tmp_path / "missing.parquet")]) == 1


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def listed_manifest(*rows: tuple[str, str, str, str, str]) -> pa.Table:
    """Rows of (id, split, English key, French key, content)."""
    ids, splits, english, french, content = zip(*rows, strict=True)
    columns = [list(ids), list(splits), *([digest(text) for text in side] for side in (english, french, content))]
    return pa.table(columns, schema=MANIFEST_SCHEMA)


PREVIOUS = listed_manifest(
    ("a", "train", "A1", "B1", "a"),
    ("b", "train", "A2", "B2", "b"),
    ("c", "validation", "A3", "B3", "c"),
    ("d", "test", "A4", "B4", "d"),
    ("e", "train", "A5", "B5", "e"),
    ("f", "train", "A6", "B6", "f"),
    ("h", "train", "A7", "B7", "h"),
)
CURRENT = listed_manifest(
    ("a", "train", "A1", "B1", "a"),
    ("b", "test", "A2", "B2", "b"),  # moved
    ("c", "validation", "A3", "B3", "c edited"),  # edited, same keys
    ("d2", "test", "A4", "B4 fixed", "d fixed"),  # the French side fixed: a new id continuing d
    ("g", "train", "A5", "B6", "e and f"),  # continues both e and f
    ("n", "validation", "A9", "B9", "n"),  # added
)


def test_each_row_is_listed_with_the_row_it_continues():
    rows = {kind: table.to_pylist() for kind, table in changelog.changed_rows(PREVIOUS, CURRENT).items()}
    assert rows["added"] == [{"id": "n", "split": "validation", "old_id": None, "old_split": None}]
    assert rows["removed"] == [{"id": None, "split": None, "old_id": "h", "old_split": "train"}]
    assert rows["moved"] == [{"id": "b", "split": "test", "old_id": "b", "old_split": "train"}]
    assert rows["changed"] == [
        {"id": "c", "split": "validation", "old_id": "c", "old_split": "validation"},
        {"id": "d2", "split": "test", "old_id": "d", "old_split": "test"},
        {"id": "g", "split": "train", "old_id": "e", "old_split": "train"},
    ]


def test_a_release_compared_with_itself_lists_nothing():
    assert all(table.num_rows == 0 for table in changelog.changed_rows(CURRENT, CURRENT).values())

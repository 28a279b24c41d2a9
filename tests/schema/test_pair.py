"""Tests of schema/pair.py: normalisation and the Pair model."""

from __future__ import annotations

import unicodedata

import annotated_types
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schema import pair as pair_module
from schema.pair import NFC_STABLE_RANGES, SCHEMA, Pair, contract_breaks, normalize, normalize_text

# Text drawn with the characters that matter here: ASCII and typographic spaces, no-break spaces, combining
# accents, precomposed letters, apostrophes and guillemets.
TEXT = st.text(
    alphabet=st.sampled_from(
        list("aeE :;!?’'«»\t\n\r\x0b\x0c") + ["\u00a0", "\u202f", "\u2003", "\u0301", "é", "\u3000"]
    ),
    max_size=40,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Course \t plan\r\n", "Course plan"),
        ("Nous discutons\n\nde la motivation", "Nous discutons de la motivation"),
        ("e\u0301te\u0301", "été"),
        ("Note\u00a0: «\u202fprofond\u202f» !", "Note\u00a0: «\u202fprofond\u202f» !"),
        ("L’apprentissage  d'un réseau", "L’apprentissage d'un réseau"),
        ("x\u2003\u3000y", "x y"),
        ("   ", ""),
        (None, None),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


@given(TEXT)
def test_normalisation_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@given(TEXT)
def test_normalised_text_is_nfc_and_trimmed_and_keeps_no_break_spaces(text):
    result = normalize_text(text)
    assert unicodedata.is_normalized("NFC", result)
    assert result == result.strip(" ") and "  " not in result
    assert result.count("\u00a0") == text.count("\u00a0") and result.count("\u202f") == text.count("\u202f")


@given(st.lists(st.none() | TEXT, max_size=20))
def test_vector_and_scalar_forms_agree(texts):
    assert normalize(pa.chunked_array([pa.array(texts, pa.string())])).to_pylist() == [normalize_text(t) for t in texts]


def test_pair_documents_every_field():
    assert all(field.description for field in Pair.model_fields.values())


def test_schema_matches_the_model():
    assert SCHEMA.names == list(Pair.model_fields)
    assert not any(field.nullable for field in SCHEMA)
    assert SCHEMA.field("flags").type == pa.list_(pa.string())


@pytest.mark.parametrize(
    "row",
    [
        {"source": "a.csv", "line": 2, "english": "", "french": "Plan du cours", "flags": []},
        {"source": "a.csv", "line": 2, "english": "Course plan", "french": None, "flags": []},
        {"source": "a.csv", "line": 0, "english": "Course plan", "french": "Plan du cours", "flags": []},
        {"source": "a.csv", "line": "2", "english": "Course plan", "french": "Plan du cours", "flags": []},
    ],
)
def test_pair_refuses_broken_rows(row):
    with pytest.raises(ValidationError):
        Pair.model_validate(row)


def test_contract_breaks_name_the_row_and_field_the_model_refuses():
    batch = pa.record_batch(
        [
            pa.array(["a.csv", "a.csv", "b.csv"]),
            pa.array([2, 3, 0]),
            pa.array(["ReLU", "", "Course plan"]),
            pa.array(["ReLU", "Plan", "Plan du cours"]),
            pa.array([["identical_sides"], [], []], pa.list_(pa.string())),
        ],
        names=["source", "line", "english", "french", "flags"],
    )
    breaks = contract_breaks(batch)
    assert set(breaks) == {1, 2}
    assert breaks[1].startswith("english: String should have at least 1 character")
    assert breaks[2].startswith("line: Input should be greater than or equal to 1")


def refused_by_the_model(rows: list[dict]) -> set[int]:
    refused = set()
    for position, row in enumerate(rows):
        try:
            Pair.model_validate(row)
        except ValidationError:
            refused.add(position)
    return refused


def test_contract_breaks_agree_with_the_model_row_by_row():
    rows = [
        {"source": "a.csv", "line": 2, "english": "ReLU", "french": "ReLU", "flags": ["identical_sides"]},
        {"source": "a.csv", "line": 5, "english": "Week 1", "french": "", "flags": []},
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=SCHEMA)
    assert set(contract_breaks(batch)) == refused_by_the_model(rows) == {1}


ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "source": st.sampled_from(["a.csv", ""]),
            "line": st.integers(min_value=-3, max_value=3),
            "english": st.one_of(st.none(), st.text(max_size=3)),
            "french": st.one_of(st.none(), st.text(max_size=3)),
            "flags": st.lists(st.sampled_from(["identical_sides", "markdown_emphasis"]), max_size=2),
        }
    ),
    max_size=12,
)


@given(ROWS)
def test_contract_breaks_refuse_exactly_the_rows_the_model_refuses(rows):
    schema = pa.schema([field.with_nullable(True) for field in SCHEMA])
    batch = pa.RecordBatch.from_pylist(rows, schema=schema)
    assert set(contract_breaks(batch)) == refused_by_the_model(rows)


def test_nfc_stable_ranges_hold_only_characters_nfc_leaves_alone_in_any_order():
    # A character composes with the one before it only if it is the second of a canonical pair decomposition.
    seconds = set()
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code)).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            seconds.add(int(decomposition[1], 16))
    seconds.update(range(0x1161, 0x1176))
    seconds.update(range(0x11A8, 0x11C3))  # Hangul vowels and trailing consonants compose algorithmically
    unstable = [
        f"U+{code:04X}"
        for low, high in NFC_STABLE_RANGES
        for code in range(low, high + 1)
        if unicodedata.combining(chr(code)) or unicodedata.normalize("NFC", chr(code)) != chr(code) or code in seconds
    ]
    assert not unstable


@given(st.text(alphabet=st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Z")), max_size=30))
def test_only_normalisation_candidates_change_under_nfc(text):
    assert normalize_text(text) == normalize_text(unicodedata.normalize("NFC", text))


@given(st.lists(st.none() | st.text(max_size=6), max_size=20), st.integers(min_value=1, max_value=5))
def test_texts_too_short_for_a_minimum_length_are_those_with_fewer_code_points(texts, minimum):
    column = pa.array(texts, pa.string())
    found = pair_module._too_short(column, annotated_types.MinLen(minimum)).to_pylist()
    # A null is a break of its own (`_suspects`), not a short text.
    assert found == [text is not None and len(text) < minimum for text in texts]

"""The matching key, the id algorithm and the manifest contract."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schema.manifest import (
    MANIFEST_FILE,
    SCHEMA,
    ManifestError,
    build_manifest,
    content_digests,
    key_digest,
    matching_key,
    matching_keys,
    read_manifest,
    row_id,
)
from schema.pair import normalize_text


@pytest.mark.parametrize(
    ("variant", "plain"),
    [
        ("L’apprentissage profond", "L'apprentissage profond"),
        ("l‘entropie", "L'entropie"),
        ("« Bonjour »", '"Bonjour"'),
        ("“Attention is all you need”", '"attention is all you need"'),
        ("Pourquoi\u202f?", "Pourquoi ?"),
        ("Pourquoi ?", "Pourquoi?"),
        ("Remarque\u00a0: le gradient", "Remarque : le gradient"),
        ("Week 1.", "Week 1"),
        ("Self-supervised learning — SSL", "self-supervised learning - SSL"),
        ("Wait…", "Wait..."),
        ("GRÜNE STRASSE", "grüne straße"),
        ("Energy-based models!", "energy-based models"),
    ],
)
def test_typographic_variants_share_a_key(variant: str, plain: str) -> None:
    assert matching_key(variant) == matching_key(plain)


# Every form the module doc lists in steps 1 and 2, with the plain form it must share a key with, written out here
# (not read from the module) so that a form dropped from the code fails its case.
DOCUMENTED_FORMS = [
    *((apostrophe, "'") for apostrophe in "’‘‛`´ʼ′"),
    *((quote, '"') for quote in "«»“”„‟″"),
    *((dash, "-") for dash in "‐‑‒–—―−"),
    ("…", "..."),
    # No-break U+00A0, figure U+2007, narrow no-break U+202F, thin U+2009, hair U+200A.
    *((space, " ") for space in "\u00a0\u2007\u202f\u2009\u200a"),
    ("ß", "ss"),
    ("ς", "σ"),
    ("ſ", "s"),
    ("ﬀ", "ff"),
    ("ﬁ", "fi"),
    ("ﬂ", "fl"),
    ("ﬃ", "ffi"),
    ("ﬄ", "ffl"),
]


@pytest.mark.parametrize(
    ("form", "plain"), DOCUMENTED_FORMS, ids=[f"U+{ord(form):04X}" for form, _ in DOCUMENTED_FORMS]
)
def test_every_documented_variant_and_ligature_shares_the_key_of_its_plain_form(form: str, plain: str) -> None:
    # Inside a word, where no other step (spacing around quotes, trimmed ends) touches it.
    assert matching_key(f"a{form}b") == matching_key(f"a{plain}b") != matching_key("ab")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("x + y", "x - y"),
        ("Week 1", "Week 2"),
        ("is it?", "is it not?"),
        ("l'histoire", "l histoire"),
        ("2.5", "25"),
    ],
)
def test_different_meanings_keep_different_keys(one: str, other: str) -> None:
    assert matching_key(one) != matching_key(other)


# A plain-Python reading of the steps the module docstring lists, one character at a time.
_FOLDED = {"ß": "ss", "ς": "σ", "ſ": "s", "ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl"}
# Step 2's typographic variants; the no-break spaces are U+00A0, U+2007 and the narrow U+202F, the thin one U+2009.
_ASCII_FORM = {
    **dict.fromkeys("’‘‛`´ʼ′", "'"),
    **dict.fromkeys("«»“”„‟″", '"'),
    **dict.fromkeys("‐‑‒–—―−", "-"),
    "…": "...",
    **dict.fromkeys("\u00a0\u2007\u202f\u2009", " "),
}


def documented_case_folding(text: str) -> str:
    """Step 1 as listed: Unicode lower-casing, then ß, ς, ſ and the ﬀ ﬁ ﬂ ﬃ ﬄ ligatures spelled out."""
    return "".join(_FOLDED.get(character, character) for character in text.lower())


def reference_key(text: str, case_folding: Callable[[str], str]) -> str:
    """The matching key of one validated side, by the module docstring's steps."""
    key = "".join(_ASCII_FORM.get(character, character) for character in case_folding(text))
    while "  " in key:
        key = key.replace("  ", " ")
    key = "".join(character for at, character in enumerate(key) if not (character == " " and _tightened(key, at)))
    return key.rstrip(" .!?;:,").lstrip(" ")


def _tightened(key: str, at: int) -> bool:
    """Step 3: whether the space at `at` goes, being before ? ! : ; ) or a quote, or after ( or a quote."""
    return (at + 1 < len(key) and key[at + 1] in '?!:;)"') or (at > 0 and key[at - 1] in '("')


# Latin, Latin-1 Supplement and Greek text, with the characters the steps name and the spaces around them; made a
# validated side (NFC, whitespace-collapsed) as the docstring's keys are taken of.
_NAMED = "".join(_FOLDED) + "".join(_ASCII_FORM) + ' ?!:;(),."'
sides = (
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E)
        | st.characters(min_codepoint=0xA0, max_codepoint=0xFF)
        | st.characters(min_codepoint=0x370, max_codepoint=0x3FF)
        | st.sampled_from(_NAMED),
        max_size=30,
    )
    .map(normalize_text)
    .filter(bool)
)
KEYS = settings(max_examples=300, deadline=None)


@KEYS
@given(sides)
@example("\u00a0Bonjour")
def test_matching_key_follows_the_documented_steps(text: str) -> None:
    assert matching_key(text) == reference_key(text, documented_case_folding)


# What `str.casefold` maps to other letters and step 1 leaves as it is, as the module docstring lists it.
CASEFOLD_EXCEPTIONS = "µϐϑϕϖϰϱϵΐΰ"


@KEYS
@given(sides.filter(lambda text: not set(text) & set(CASEFOLD_EXCEPTIONS)))
def test_case_folding_is_str_casefold_on_latin_and_greek_text(text: str) -> None:
    assert matching_key(text) == reference_key(text, str.casefold)


@pytest.mark.parametrize("character", CASEFOLD_EXCEPTIONS)
def test_the_documented_exceptions_to_casefold_keep_their_own_keys(character: str) -> None:
    assert matching_key(character) == character != character.casefold()


@KEYS
@given(st.lists(sides, max_size=8))
def test_matching_keys_is_matching_key_of_each_text(texts: list[str]) -> None:
    assert matching_keys(pa.array(texts, pa.string())).to_pylist() == [matching_key(text) for text in texts]


def test_id_algorithm_is_pinned() -> None:
    english_digest = hashlib.sha256(b"hello").digest()
    french_digest = hashlib.sha256(b"bonjour").digest()
    expected = hashlib.sha256(b"nyu-enfr-v1\n" + english_digest + french_digest).hexdigest()[:24]
    assert row_id("hello", "bonjour") == "nyu-enfr-v1:" + expected == "nyu-enfr-v1:8c0b715895d17e4b62a8a24f"


def test_id_depends_on_which_side_a_text_is() -> None:
    assert row_id("a", "b") != row_id("b", "a")
    assert row_id("ab", "c") != row_id("a", "bc")


def _split_rows() -> pa.Table:
    english, french = pa.array(["Week 2", "Week 1"]), pa.array(["Semaine 2", "Semaine 1"])
    return pa.table(
        {
            "id": [row_id("week 2", "semaine 2"), row_id("week 1", "semaine 1")],
            "split": ["test", "train"],
            "line": [3, 2],
            "english": english,
            "french": french,
            "english_key_sha256": [key_digest("Week 2"), key_digest("Week 1")],
            "french_key_sha256": [key_digest("Semaine 2"), key_digest("Semaine 1")],
            "content_sha256": content_digests(english, french),
        }
    )


def test_build_manifest_keeps_the_released_text_hash_and_sorts_by_id() -> None:
    manifest = build_manifest(_split_rows())
    assert manifest.schema == SCHEMA
    assert manifest["id"].to_pylist() == sorted(_split_rows()["id"].to_pylist())
    by_id = {row["id"]: row for row in manifest.to_pylist()}
    week_1 = by_id[row_id("week 1", "semaine 1")]
    assert week_1["split"] == "train"
    assert week_1["content_sha256"] == hashlib.sha256(b"Week 1\nSemaine 1").digest()
    assert week_1["english_key_sha256"] == hashlib.sha256(b"week 1").digest()


def test_read_manifest_round_trips(tmp_path) -> None:
    path = tmp_path / MANIFEST_FILE
    pq.write_table(build_manifest(_split_rows()), path)
    assert pa.Table.from_batches(list(read_manifest(path))).equals(build_manifest(_split_rows()))


def test_read_manifest_names_a_missing_file(tmp_path) -> None:
    with pytest.raises(ManifestError, match="previous_manifest"):
        list(read_manifest(tmp_path / MANIFEST_FILE))


def test_read_manifest_names_missing_columns(tmp_path) -> None:
    path = tmp_path / MANIFEST_FILE
    pq.write_table(build_manifest(_split_rows()).drop_columns(["french_key_sha256"]), path)
    with pytest.raises(ManifestError, match="missing manifest columns french_key_sha256"):
        list(read_manifest(path))


def test_read_manifest_refuses_ids_of_another_algorithm(tmp_path) -> None:
    path = tmp_path / MANIFEST_FILE
    manifest = build_manifest(_split_rows())
    foreign = manifest.set_column(0, "id", pa.array(["nyu-enfr-v0:abc", "nyu-enfr-v0:def"]))
    pq.write_table(foreign, path)
    with pytest.raises(ManifestError, match="not made by nyu-enfr-v1"):
        list(read_manifest(path))

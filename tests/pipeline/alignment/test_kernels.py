"""Tests of pipeline/alignment/kernels.py: the compiled loops agree with what they stand for, written plainly."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.alignment import kernels
from pipeline.alignment.scorer import _matched
from pipeline.alignment.tokens import ANCHOR_KINDS, read

# Letters, digits, the marks that separate or quote tokens, and characters of two and three bytes in UTF-8.
ALPHABET = "abcXYZéÀçαΩ09 \\`'’-.,:;!?()/_$ht" + "中"
URL_START = "https://"
# Code spans and URLs as the tokeniser's documentation has them.
SPANS = re.compile(r"`([^`\n]+)`|(https?://[^\s)>\]}\"'`]+[^\s)>\]}\"'`.,;:!?])")


def reference(text: str, max_chars: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Words and anchors of a normalised text, read with Python's string methods and regular expressions."""
    text = text[:max_chars]
    words, anchors = [], []
    for match in re.finditer(r"\\?[^\W_]+", text):
        token = match.group().lower()
        if token.startswith("\\"):
            if token[1:].isalpha():
                anchors.append(("command", token))
        elif token.isalpha():
            words.append(token)
        elif token.isdigit():
            anchors.append(("number", token))
    for span, url in SPANS.findall(text):
        if span.strip():
            anchors.append(("code", span.strip()))
        if url:
            anchors.append(("url", url))
    return sorted(words), sorted(anchors)


def scanned(text: str, max_chars: int) -> tuple[list[str], list[tuple[str, str]]]:
    found = read(pa.array([text], pa.string()), max_chars)
    kinds = [ANCHOR_KINDS[kind] for kind in found.anchor_kinds.tolist()]
    return sorted(found.words.values.to_pylist()), sorted(zip(kinds, found.anchors.values.to_pylist(), strict=True))


texts = st.lists(st.sampled_from([*ALPHABET, URL_START]), max_size=60).map(
    lambda parts: " ".join("".join(parts).split())
)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(min_value=1, max_value=80))
@example("a ``x` b", 80)
@example("`a` `b` ``", 80)
@example("see https://a.b.) and http://x, now", 80)
@example("x`y`z https://ab", 16)
@example("é" * 30 + " 12", 31)
def test_the_scanner_reads_what_the_plain_reader_reads(text, max_chars):
    assert scanned(text, max_chars) == reference(text, max_chars)


@settings(max_examples=50, deadline=None)
@given(st.lists(texts, min_size=1, max_size=8))
def test_texts_read_together_read_as_each_alone(column):
    together = read(pa.array(column, pa.string()), 40)
    assert together.words.counts().tolist() == [len(reference(text, 40)[0]) for text in column]
    for row, text in enumerate(column):
        words = together.words.values.to_pylist()[together.words.bounds[row] : together.words.bounds[row + 1]]
        assert sorted(words) == reference(text, 40)[0]


def test_a_word_key_ignores_case_and_a_stem_is_its_first_letters():
    found = read(pa.array(["Grande grandir GRAND conv Conv"], pa.string()), 100)
    keys, stems = found.words.keys.tolist(), found.stems.tolist()
    assert keys[3] == keys[4] and len(set(keys[:3])) == 3
    assert stems[0] == stems[1] == stems[2] != 0 and stems[3] == stems[4] == 0


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=2**64 - 1), max_size=200), st.integers(min_value=0, max_value=2**63))
def test_every_indexed_key_finds_its_id_and_no_other_key_does(keys, shift):
    keys = np.array(sorted(keys), np.uint64)
    # Keys that share their low bits land on the same slots.
    crowded = (keys << np.uint64(40)) | np.uint64(shift % 7)
    for indexed in (keys, np.unique(crowded)):
        slots, ids = kernels.index(indexed)
        assert kernels.look_up(slots, ids, indexed).tolist() == list(range(len(indexed)))
        absent = np.setdiff1d(indexed ^ np.uint64(1 << 63), indexed)
        assert (kernels.look_up(slots, ids, absent) == -1).all()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sets(st.integers(0, 60)), st.sets(st.integers(0, 40))), max_size=12))
@example([(set(range(61)), set(range(41))), (set(range(61)), {0, 3, 40}), ({3, 60}, {40}), (set(), {1})])
def test_instances_are_every_pair_of_types_of_a_pair_but_null_with_null(pairs):
    """Ids 60 and 40 stand for the NULL words; more than 768 distinct word pairs make the table grow, and more than
    1,536 make it grow again; the example's second pair looks up again word pairs the growth moved."""
    english = [sorted(types) for types, _ in pairs]
    french = [sorted(types) for _, types in pairs]
    english_at, french_at, pair, keys = kernels.instances(
        np.array([word for types in english for word in types], np.int64),
        np.cumsum([0] + [len(types) for types in english]),
        np.array([word for types in french for word in types], np.int64),
        np.cumsum([0] + [len(types) for types in french]),
        60,
        40,
    )
    expected, first_seen = [], {}
    english_start = french_start = 0
    for english_types, french_types in zip(english, french, strict=True):
        for i, english_word in enumerate(english_types):
            for j, french_word in enumerate(french_types):
                if (english_word, french_word) != (60, 40):
                    key = english_word * 41 + french_word
                    first_seen.setdefault(key, len(first_seen))
                    expected.append((english_start + i, french_start + j, first_seen[key]))
        english_start, french_start = english_start + len(english_types), french_start + len(french_types)
    assert list(zip(english_at.tolist(), french_at.tolist(), pair.tolist(), strict=True)) == expected
    assert keys.tolist() == list(first_seen)


def test_an_anchor_is_matched_once_among_the_other_sides_anchors_or_in_its_whole_text_whatever_the_case():
    ours = read(pa.array([r"see \Delta and 12 and \delta", "run `Nn.ReLU` 7"], pa.string()), 100)
    theirs = read(pa.array(["voir 12", "cut before `nn.relu` 70"], pa.string()), 12)
    first, found = _matched(ours, theirs)
    assert list(zip(ours.anchors.values.to_pylist(), first.tolist(), found.tolist(), strict=True)) == [
        (r"\delta", True, False),
        ("12", True, True),
        (r"\delta", False, False),
        ("Nn.ReLU", True, True),
        ("7", True, True),
    ]

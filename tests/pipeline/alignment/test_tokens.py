"""Tests of pipeline/alignment/tokens.py."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.alignment.tokens import ANCHOR_KINDS, read


def words(text: str | None, max_chars: int = 1_000) -> list[str]:
    return read(pa.array([text], pa.string()), max_chars).words.values.to_pylist()


def anchors(text: str | None, max_chars: int = 1_000) -> list[tuple[str, str]]:
    found = read(pa.array([text], pa.string()), max_chars)
    kinds = [ANCHOR_KINDS[kind] for kind in found.anchor_kinds.tolist()]
    return sorted(zip(kinds, found.anchors.values.to_pylist(), strict=True))


def test_words_are_lower_cased_letter_runs_without_punctuation():
    assert sorted(words("Les Élèves, à l'École (vraiment) !")) == sorted(
        ["les", "élèves", "à", "l", "école", "vraiment"]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l'apprentissage", ["l", "apprentissage"]),
        ("l’homme", ["l", "homme"]),
        ("auto-supervisé", ["auto", "supervisé"]),
        ("qu'est-ce", ["qu", "est", "ce"]),
    ],
)
def test_elisions_and_hyphens_split_words(text, expected):
    assert sorted(words(text)) == sorted(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 1957 there", [("number", "1957")]),
        ("pi is 3,14.", [("number", "14"), ("number", "3")]),
        ("about 42% of", [("number", "42")]),
        ("GPT-3", [("number", "3")]),
    ],
)
def test_numbers_are_anchors(text, expected):
    assert anchors(text) == expected
    assert not any(word.isdigit() for word in words(text))


def test_tex_commands_are_anchors_and_their_arguments_words():
    text = r"Let $\mathbf{x} \times y$ be"
    assert anchors(text) == [("command", r"\mathbf"), ("command", r"\times")]
    assert sorted(words(text)) == ["be", "let", "x", "y"]


def test_tex_commands_are_read_lower_cased():
    assert anchors(r"$\Delta$") == [("command", r"\delta")]


def test_code_spans_are_anchors_as_written_without_the_spaces_around_them():
    # The rules read normalised texts, with single spaces.
    assert anchors("Run ` pip install Torch ` now") == [("code", "pip install Torch")]


@pytest.mark.parametrize("text", ["an `unclosed span", "two ``", "` `", "a `broken\nspan` here"])
def test_backticks_that_quote_nothing_are_no_code_span(text):
    assert [value for kind, value in anchors(text) if kind == "code"] == []


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("See https://pytorch.org/docs.", "https://pytorch.org/docs"),
        ("(voir http://example.com/a_b)", "http://example.com/a_b"),
        ("at https://x.org/Page?q=1, then", "https://x.org/Page?q=1"),
    ],
)
def test_urls_are_anchors_without_trailing_punctuation(text, url):
    assert [value for kind, value in anchors(text) if kind == "url"] == [url]


def test_text_without_anchors_has_none():
    assert anchors("Plain words, nothing else.") == []


def test_only_the_first_max_chars_characters_are_read():
    assert words("hello world 1957", max_chars=8) == ["hello", "wo"]
    assert anchors("hello world 1957", max_chars=8) == []
    assert anchors("the `code` span", max_chars=7) == []


def test_max_chars_counts_characters_not_bytes():
    text = "élèves été 12"
    assert anchors(text, max_chars=len(text)) == [("number", "12")]
    assert words(text, max_chars=len(text) - 3) == ["élèves", "été"]


@pytest.mark.parametrize("text", [None, "", "  ", "... !"])
def test_null_and_empty_texts_give_nothing(text):
    found = read(pa.array([text], pa.string()), 100)
    assert found.words.values.to_pylist() == []
    assert found.anchors.values.to_pylist() == []
    assert found.words.counts().tolist() == [0]
    assert found.anchors.counts().tolist() == [0]


def test_bag_rows_point_to_their_text():
    found = read(pa.array(["one cat 1", None, "two dogs 22 33", "trois"], pa.string()), 100)
    assert found.words.texts == found.anchors.texts == 4
    by_text = {row: [] for row in range(4)}
    for row, word in zip(found.words.rows.tolist(), found.words.values.to_pylist(), strict=True):
        by_text[row].append(word)
    assert {row: sorted(bag) for row, bag in by_text.items()} == {
        0: ["cat", "one"],
        1: [],
        2: ["dogs", "two"],
        3: ["trois"],
    }
    anchored = sorted(zip(found.anchors.rows.tolist(), found.anchors.values.to_pylist(), strict=True))
    assert anchored == [(0, "1"), (2, "22"), (2, "33")]
    assert found.words.counts().tolist() == [2, 0, 2, 1]
    assert found.anchors.counts().tolist() == [1, 0, 2, 0]


def test_anchor_kinds_follow_their_anchors():
    found = read(pa.array(["`x` 7", r"https://a.org $\alpha$"], pa.string()), 100)
    kinds = {
        value: (ANCHOR_KINDS[kind], row)
        for value, kind, row in zip(
            found.anchors.values.to_pylist(), found.anchor_kinds.tolist(), found.anchors.rows.tolist(), strict=True
        )
    }
    assert kinds == {
        "x": ("code", 0),
        "7": ("number", 0),
        "https://a.org": ("url", 1),
        r"\alpha": ("command", 1),
    }

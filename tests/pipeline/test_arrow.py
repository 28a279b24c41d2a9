"""Tests of pipeline/arrow.py: `rewrite_where` rewrites the chosen texts only, and nothing when none is chosen;
`matches_any` finds what the alternation of its patterns finds."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.arrow import matches_any, rewrite_where


def test_only_the_chosen_texts_are_rewritten_and_a_null_choice_is_no_choice():
    texts = pa.array(["a", "b", None, "d", "e"], pa.string())
    needs = pa.array([True, False, True, None, True])
    seen = []

    def upper(subset: pa.Array) -> pa.Array:
        seen.append(subset.to_pylist())
        return pc.utf8_upper(subset)

    assert rewrite_where(texts, needs, upper).to_pylist() == ["A", "b", None, "d", "E"]
    assert seen == [["a", None, "e"]], "the transform sees the chosen texts only, in order"


def test_nothing_chosen_returns_the_texts_without_calling_the_transform():
    texts = pa.array(["a", "b"], pa.string())

    def refuse(subset: pa.Array) -> pa.Array:
        raise AssertionError("called with nothing to rewrite")

    assert rewrite_where(texts, pa.array([False, None]), refuse) is texts


def test_the_result_keeps_the_texts_type():
    texts = pa.array(["a", "b"], pa.string())
    rewritten = rewrite_where(texts, pa.array([False, True]), lambda subset: subset.cast(pa.large_string()))
    assert rewritten.type == pa.string() and rewritten.to_pylist() == ["a", "b"]


PATTERNS = ["`", r"\*\*?[^\s*][^*]*\*", r"<!--|-->", r"^ab", r"b$"]


@given(
    st.lists(st.none() | st.text(alphabet="ab *`<!->é", max_size=12), max_size=20),
    st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3),
)
def test_matching_any_pattern_is_matching_their_alternation(texts, patterns):
    array = pa.array(texts, pa.string())
    alternation = "|".join(f"(?:{pattern})" for pattern in patterns)
    assert matches_any(array, patterns).to_pylist() == pc.match_substring_regex(array, alternation).to_pylist()


def test_matching_no_pattern_is_refused():
    with pytest.raises(ValueError, match="no pattern"):
        matches_any(pa.array(["a"], pa.string()), [])

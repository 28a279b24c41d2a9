"""Tests of pipeline/alignment/model1.py."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest

from pipeline.alignment import model1
from pipeline.alignment.model1 import Table, Vocabulary
from pipeline.alignment.tokens import read

ENGLISH = [
    "the cat",
    "the dog",
    "a cat",
    "a dog",
    "the house",
    "a house",
    "the cat and the dog",
    "a big house",
    "the big dog",
]
FRENCH = [
    "le chat",
    "le chien",
    "un chat",
    "un chien",
    "la maison",
    "une maison",
    "le chat et le chien",
    "une grande maison",
    "le grand chien",
]


class Learned:
    def __init__(self, english: list[str], french: list[str], iterations: int = 5, top: int = 100) -> None:
        english_words = read(pa.array(english, pa.string()), 1_000).words
        french_words = read(pa.array(french, pa.string()), 1_000).words
        self.english, self.french = Vocabulary.of(english_words), Vocabulary.of(french_words)
        self.forward, self.backward = model1.learn(
            self.english.bags(english_words),
            self.french.bags(french_words),
            len(self.english),
            len(self.french),
            iterations,
            top,
        )

    def row(self, table: Table, source: Vocabulary, target: Vocabulary, word: str) -> dict[str, float]:
        at = source.words.to_pylist().index(word)
        row = dense(table)[at]
        return {target.words[j].as_py(): float(row[j]) for j in np.flatnonzero(row)}

    def french_given(self, word: str) -> dict[str, float]:
        return self.row(self.forward, self.english, self.french, word)

    def english_given(self, word: str) -> dict[str, float]:
        return self.row(self.backward, self.french, self.english, word)


def dense(table: Table) -> np.ndarray:
    """The kept entries of `table` as a dense matrix, a row per source word."""
    matrix = np.zeros((len(table.starts) - 1, len(table.null)))
    for source in range(len(table.starts) - 1):
        kept = slice(table.starts[source], table.starts[source + 1])
        matrix[source, table.translations[kept]] = table.probabilities[kept]
    return matrix


def reference(sources: list[list[str]], targets: list[list[str]], iterations: int) -> dict[tuple, float]:
    """Model 1's EM written word by word, NULL being None: t[(source, target)]."""
    t: dict[tuple, float] = defaultdict(lambda: 1.0)
    for _ in range(iterations):
        counts: dict[tuple, float] = defaultdict(float)
        for source, target in zip(sources, targets, strict=True):
            source = [*source, None]
            for f in target:
                total = sum(t[e, f] for e in source)
                for e in source:
                    counts[e, f] += t[e, f] / total
        totals: dict[str | None, float] = defaultdict(float)
        for (e, _), count in counts.items():
            totals[e] += count
        t = {(e, f): count / totals[e] for (e, f), count in counts.items()}
    return t


@pytest.fixture(scope="module")
def learned() -> Learned:
    return Learned(ENGLISH, FRENCH)


@pytest.mark.parametrize(("english", "french"), [("cat", "chat"), ("dog", "chien"), ("house", "maison")])
def test_em_learns_each_word_its_translation_in_both_directions(learned, english, french):
    forward = learned.french_given(english)
    backward = learned.english_given(french)
    assert max(forward, key=forward.get) == french
    assert max(backward, key=backward.get) == english
    assert forward[french] > 0.5 and backward[english] > 0.5


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_tables_match_model_1_em_computed_word_by_word(direction):
    learned = Learned(ENGLISH, FRENCH, iterations=4)
    english, french = [text.split() for text in ENGLISH], [text.split() for text in FRENCH]
    if direction == "forward":
        table, source, target = learned.forward, learned.english, learned.french
        expected = reference(english, french, 4)
    else:
        table, source, target = learned.backward, learned.french, learned.english
        expected = reference(french, english, 4)
    source_words, target_words = source.words.to_pylist(), target.words.to_pylist()
    matrix = dense(table)
    for (e, f), probability in expected.items():
        j = target_words.index(f)
        if e is None:
            assert table.null[j] == pytest.approx(probability, abs=1e-12)
            continue
        got = matrix[source_words.index(e), j]
        if probability >= 0.01:
            assert got == pytest.approx(probability, abs=1e-12), (e, f)
        else:
            assert got in (0.0, pytest.approx(probability, abs=1e-12)), (e, f)


def test_rows_of_the_kept_tables_sum_to_at_most_one(learned):
    for table in (learned.forward, learned.backward):
        sums = dense(table).sum(axis=1)
        assert (sums <= 1 + 1e-12).all()
        assert (sums > 0.9).all()
        assert table.null.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("top", [1, 2, 3])
def test_pruning_keeps_the_top_most_likely_translations_of_each_word(learned, top):
    pruned = Learned(ENGLISH, FRENCH, top=top)
    for whole, kept in ((learned.forward, pruned.forward), (learned.backward, pruned.backward)):
        whole_rows, kept_rows = dense(whole), dense(kept)
        for full, row in zip(whole_rows, kept_rows, strict=True):
            assert np.count_nonzero(row) <= top
            nonzero = np.flatnonzero(row)
            assert (row[nonzero] == full[nonzero]).all()
            dropped = np.setdiff1d(np.flatnonzero(full), nonzero)
            if len(dropped):
                assert len(nonzero) == top
                assert full[dropped].max() <= row[nonzero].min()
        assert (kept.null == whole.null).all()


def test_ties_are_broken_by_target_word():
    learned = Learned(["x"], ["q p"], top=1)
    assert learned.french_given("x") == {"p": pytest.approx(0.5)}


def test_the_same_pairs_give_the_same_tables():
    first, second = Learned(ENGLISH, FRENCH), Learned(ENGLISH, FRENCH)
    for one, other in ((first.forward, second.forward), (first.backward, second.backward)):
        assert (dense(one) == dense(other)).all()
        assert (one.null == other.null).all()
        assert (one.background == other.background).all()


def test_tables_do_not_depend_on_the_order_of_the_pairs(learned):
    order = np.random.default_rng(7).permutation(len(ENGLISH))
    shuffled = Learned([ENGLISH[i] for i in order], [FRENCH[i] for i in order])
    assert shuffled.english.words.equals(learned.english.words)
    assert shuffled.french.words.equals(learned.french.words)
    for one, other in ((learned.forward, shuffled.forward), (learned.backward, shuffled.backward)):
        assert np.allclose(dense(one), dense(other), rtol=0, atol=1e-12)
        assert np.allclose(one.null, other.null, rtol=0, atol=1e-12)
        assert (one.background == other.background).all()


def test_vocabulary_is_sorted_and_distinct_and_unknown_words_are_minus_one():
    tokens = read(pa.array(["the cat the", "a dog"], pa.string()), 100).words
    vocabulary = Vocabulary.of(tokens)
    assert vocabulary.words.to_pylist() == ["a", "cat", "dog", "the"]
    query = read(pa.array(["the zebra", "dog"], pa.string()), 100).words
    assert vocabulary.ids(query).tolist() == [3, -1, 2]
    bags = vocabulary.bags(query)
    assert bags.ids.tolist() == [3, 2]
    assert bags.rows.tolist() == [0, 1]
    assert bags.texts == 2


def test_background_is_the_smoothed_share_of_each_target_word(learned):
    for table in (learned.forward, learned.backward):
        assert table.background.sum() == pytest.approx(1.0)
        assert table.unseen < table.background.min()
    shares = dict(zip(learned.french.words.to_pylist(), learned.forward.background.tolist(), strict=True))
    assert shares["le"] > shares["chat"] > shares["grande"]
    assert shares["chat"] == pytest.approx(shares["maison"])

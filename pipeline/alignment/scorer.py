"""How well the two sides of a pair translate each other: a score per pair from IBM Model 1 in both directions and
the pair's anchors; reads and writes nothing.

The score is the mean, over both directions, of the mean log-probability of a side's words given the other side,
in which each anchor (a number, TeX command, code span or URL) counts as one more word: translated with
probability 1 when the other side has it too, and with the model's floor probability when it does not. Aligned
pairs score near the corpus's typical value; a paragraph next to another paragraph's translation scores far below.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.alignment import kernels, model1
from pipeline.alignment.model1 import FLOOR, LOG_FLOOR, Table, Vocabulary
from pipeline.alignment.tokens import ANCHOR_KINDS, STEM_CHARS, Text, buffers, read, unicode_tables


@dataclass(frozen=True)
class Scores:
    """Per pair: the score, how many known words each side has, and how many anchors only one side has."""

    score: np.ndarray
    english_words: np.ndarray
    french_words: np.ndarray
    english_only: np.ndarray
    french_only: np.ndarray


@dataclass(frozen=True)
class Sums:
    """Per pair: the log sums of each side's words explained by the other side (`model1`) and how many words they
    are, and how many of each side's distinct anchors the other side has and has not."""

    french_logs: np.ndarray
    french_words: np.ndarray
    english_logs: np.ndarray
    english_words: np.ndarray
    english_shared: np.ndarray
    english_only: np.ndarray
    french_shared: np.ndarray
    french_only: np.ndarray


@dataclass(frozen=True)
class Scorer:
    max_chars: int
    english: Vocabulary
    french: Vocabulary
    french_given_english: Table
    english_given_french: Table

    @classmethod
    def learn(cls, english: pa.Array, french: pa.Array, max_chars: int, iterations: int, top: int) -> Scorer:
        """Model 1 in both directions, learned from the pairs (english[i], french[i])."""
        english_text, french_text = read(english, max_chars), read(french, max_chars)
        english_words, french_words = Vocabulary.of(english_text.words), Vocabulary.of(french_text.words)
        english_bags, french_bags = english_words.bags(english_text.words), french_words.bags(french_text.words)
        forward, backward = model1.learn(
            english_bags, french_bags, len(english_words), len(french_words), iterations, top
        )
        return cls(max_chars, english_words, french_words, forward, backward)

    def score(self, english: pa.Array, french: pa.Array, rows: np.ndarray | None = None) -> Scores:
        """Scores of the pairs (english[i], french[i]), or of those at `rows` only."""
        sums = self.sums(english, french, rows)
        # An anchor counts as a word seen once: translated with probability 1 when the other side has it, with the
        # floor's when not.
        forward = _mean(
            sums.french_logs, sums.french_words, sums.french_shared, sums.french_only, self.french_given_english.unseen
        )
        backward = _mean(
            sums.english_logs,
            sums.english_words,
            sums.english_shared,
            sums.english_only,
            self.english_given_french.unseen,
        )
        score = np.nan_to_num((forward + backward) / 2, nan=0.0)
        return Scores(score, sums.english_words, sums.french_words, sums.english_only, sums.french_only)

    def sums(self, english: pa.Array, french: pa.Array, rows: np.ndarray | None = None) -> Sums:
        """What the score of each pair (english[i], french[i]), or of those at `rows` only, is made of."""
        if rows is None:
            rows = np.arange(len(english))
        return Sums(
            *kernels.pair_sums(
                buffers(english),
                buffers(french),
                rows,
                self.max_chars,
                STEM_CHARS,
                *unicode_tables(),
                self.english.arrays,
                self.french.arrays,
                self.french_given_english.arrays,
                self.english_given_french.arrays,
                FLOOR,
            )
        )

    def disagreements(self, english: str | None, french: str | None) -> list[str]:
        """For one pair, by anchor kind, the anchors that only one side has, in words."""
        return self.disagreements_of(pa.array([english], pa.string()), pa.array([french], pa.string()))[0]

    def disagreements_of(self, english: pa.Array, french: pa.Array) -> list[list[str]]:
        """`disagreements` of each pair (english[i], french[i])."""
        english_text = read(english, self.max_chars, spell_words=False)
        french_text = read(french, self.max_chars, spell_words=False)
        sides = (("English", _only(english_text, french_text)), ("French", _only(french_text, english_text)))
        phrases: list[list[str]] = []
        for pair in range(len(english)):
            found = []
            for kind, kind_name in enumerate(ANCHOR_KINDS):
                for side, only in sides:
                    values = [value for value_kind, value in only[pair] if value_kind == kind]
                    if values:
                        found.append(f"{_KIND_NAMES[kind_name]} {', '.join(values)} only on the {side} side")
            phrases.append(found)
        return phrases


def load() -> None:
    """Readies numba and loads every compiled loop that learning and scoring use, by learning from one made-up pair
    and scoring it: a process loads a loop the first time it uses it, and readies numba the first time it uses any."""
    pair = pa.array(["load"], pa.string())
    Scorer.learn(pair, pair, 1, 1, 1).sums(pair, pair)


def _mean(logs: np.ndarray, words: np.ndarray, shared: np.ndarray, only: np.ndarray, unseen: float) -> np.ndarray:
    """Per pair, the mean score of a side's words and anchors."""
    rare = -np.log(unseen)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (logs + rare * shared + (LOG_FLOOR + rare) * only) / (words + shared + only)


def _matched(ours: Text, theirs: Text) -> tuple[np.ndarray, np.ndarray]:
    """For each anchor of one side, whether it is the first of its key in its text, and whether the other side
    of its pair has it (`kernels.matched`)."""
    return kernels.matched(
        ours.anchors.keys,
        ours.anchors.bounds,
        ours.anchors.spans,
        ours.data,
        theirs.anchors.keys,
        theirs.anchors.bounds,
        theirs.data,
        theirs.starts,
        theirs.ends,
        unicode_tables()[1],
    )


def _only(ours: Text, theirs: Text) -> list[list[tuple[int, str]]]:
    """Per pair, the distinct anchors of one side that the other side has not, as (kind, anchor) in text order."""
    first, found = _matched(ours, theirs)
    at = np.flatnonzero(first & ~found)
    per_text: list[list[tuple[int, str]]] = [[] for _ in range(ours.anchors.texts)]
    for row, kind, value in zip(
        ours.anchors.rows[at].tolist(), ours.anchor_kinds[at].tolist(), ours.anchors.spelled(at), strict=True
    ):
        per_text[row].append((kind, value))
    return per_text


_KIND_NAMES = {"number": "numbers", "command": "TeX commands", "code": "code spans", "url": "URLs"}


def folds(english: pa.Array) -> np.ndarray:
    """The fold of each pair, 0 or 1, from its English side alone (the parity of its length), so that pairs sharing
    their English text fall in the same fold."""
    return pc.fill_null(pc.utf8_length(english), 0).to_numpy(zero_copy_only=False) % 2


@dataclass(frozen=True)
class CrossFitted:
    """Two scorers, each learned from the pairs of one fold and scoring the pairs of the other, so that no pair is
    scored by a model that learned from it: a model scores the pairs it learned from too well, misaligned ones
    included, and a small corpus is nearly all learned from."""

    scorers: tuple[Scorer, Scorer]

    @classmethod
    def learn(cls, english: pa.Array, french: pa.Array, max_chars: int, iterations: int, top: int) -> CrossFitted:
        fold = folds(english)

        def learned(side: int) -> Scorer:
            rows = pa.array(np.flatnonzero(fold == side))
            return Scorer.learn(english.take(rows), french.take(rows), max_chars, iterations, top)

        # The two folds learn side by side: the compiled loops and Arrow's kernels let go of the GIL, and the stage
        # waits for the rule before it starts its workers.
        with ThreadPoolExecutor(max_workers=2) as pool:
            first, second = pool.map(learned, (0, 1))
        return cls((first, second))

    def score(self, english: pa.Array, french: pa.Array) -> Scores:
        fold = folds(english)
        parts = {}
        for side in (0, 1):
            rows = np.flatnonzero(fold == side)
            if len(rows):
                parts[side] = (
                    rows,
                    self.scorers[1 - side].score(english, french, rows),
                )
        merged = {name: np.zeros(len(english)) for name in Scores.__dataclass_fields__}
        for rows, scores in parts.values():
            for name in merged:
                merged[name][rows] = getattr(scores, name)
        return Scores(**merged)

    def disagreements(self, english: str | None, french: str | None) -> list[str]:
        return self.scorers[0].disagreements(english, french)

    def disagreements_of(self, english: pa.Array, french: pa.Array) -> list[list[str]]:
        return self.scorers[0].disagreements_of(english, french)

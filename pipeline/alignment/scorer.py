"""How well the two sides of a pair translate each other: a score per pair from IBM Model 1 in both directions and
the pair's anchors; reads and writes nothing.

The score is the mean, over both directions, of the mean log-probability of a side's words given the other side,
in which each anchor (a number, TeX command, code span or URL) counts as one more word: translated with
probability 1 when the other side has it too, and with the model's floor probability when it does not. Aligned
pairs score near the corpus's typical value; a paragraph next to another paragraph's translation scores far below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.alignment import model1
from pipeline.alignment.model1 import FLOOR, LOG_FLOOR, Bags, Table, Vocabulary
from pipeline.alignment.tokens import ANCHOR_KINDS, Text, Tokens, read

# Words of at least this many letters that begin alike on both sides are taken as cognates.
COGNATE_CHARS = 5


@dataclass(frozen=True)
class Scores:
    """Per pair: the score, how many known words each side has, and how many anchors only one side has."""

    score: np.ndarray
    english_words: np.ndarray
    french_words: np.ndarray
    english_only: np.ndarray
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

    def score(self, english: pa.Array, french: pa.Array) -> Scores:
        english_text, french_text = read(english, self.max_chars), read(french, self.max_chars)
        english_ids, french_ids = self.english.ids(english_text.words), self.french.ids(french_text.words)
        english_cognates, french_cognates = _cognates(english_text.words, french_text.words)
        french_logs, french_count = _explained(
            self.french_given_english,
            Bags.known(english_ids, english_text.words.rows, len(english)),
            french_text.words,
            french_ids,
            french_cognates,
        )
        english_logs, english_count = _explained(
            self.english_given_french,
            Bags.known(french_ids, french_text.words.rows, len(french)),
            english_text.words,
            english_ids,
            english_cognates,
        )
        english_shared, english_only, french_shared, french_only = _anchor_counts(
            english_text, french_text, english, french
        )
        # An anchor counts as a word seen once: translated with probability 1 when the other side has it, with the
        # floor's when not.
        forward = _mean(french_logs, french_count, french_shared, french_only, self.french_given_english.unseen)
        backward = _mean(english_logs, english_count, english_shared, english_only, self.english_given_french.unseen)
        score = np.nan_to_num((forward + backward) / 2, nan=0.0)

        return Scores(score, english_count, french_count, english_only, french_only)

    def disagreements(self, english: str | None, french: str | None) -> list[str]:
        """For one pair, by anchor kind, the anchors that only one side has, in words."""
        return self.disagreements_of(pa.array([english], pa.string()), pa.array([french], pa.string()))[0]

    def disagreements_of(self, english: pa.Array, french: pa.Array) -> list[list[str]]:
        """`disagreements` of each pair (english[i], french[i])."""
        english_anchors, french_anchors = (_listed(read(texts, self.max_chars)) for texts in (english, french))
        phrases: list[list[str]] = []
        for ours, theirs, english_text, french_text in zip(
            english_anchors, french_anchors, english.to_pylist(), french.to_pylist(), strict=True
        ):
            found = []
            for kind in ANCHOR_KINDS:
                for side, anchors, other in (("English", ours, french_text), ("French", theirs, english_text)):
                    only = [value for found_kind, value in anchors if found_kind == kind and not _has(other, value)]
                    if only:
                        found.append(f"{_KIND_NAMES[kind]} {', '.join(only)} only on the {side} side")
            phrases.append(found)
        return phrases


def _mean(logs: np.ndarray, words: np.ndarray, shared: np.ndarray, only: np.ndarray, unseen: float) -> np.ndarray:
    """Per pair, the mean score of a side's words and anchors."""
    rare = -np.log(unseen)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (logs + rare * shared + (LOG_FLOOR + rare) * only) / (words + shared + only)


def _explained(
    table: Table, source: Bags, target: Tokens, ids: np.ndarray, cognates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the sum of log p(word | source text) over the target words the model knows or that have a cognate
    on the source side, and their number. A cognate is translated by its twin with t = 1."""
    known = ids >= 0
    probability = np.zeros(len(ids))
    probability[known] = table.probabilities(source, Bags(ids[known], target.rows[known], target.texts))
    probability = np.where(cognates, np.maximum(probability, 1 / (source.lengths[target.rows] + 1)), probability)
    counted = known | cognates
    rows = target.rows[counted]
    background = np.full(len(ids), table.unseen)
    background[known] = table.background[ids[known]]
    logs = np.log(np.maximum(probability[counted], FLOOR) / background[counted])
    return (
        np.bincount(rows, logs, minlength=target.texts),
        np.bincount(rows, minlength=target.texts).astype(np.float64),
    )


def _cognates(english: Tokens, french: Tokens) -> tuple[np.ndarray, np.ndarray]:
    """For each word of either side, whether the other side of its pair has a word of at least COGNATE_CHARS letters
    beginning with the same COGNATE_CHARS letters ("convolution", "probabilité" and "probability")."""
    sides = (english, french)
    long = [
        pc.greater_equal(pc.utf8_length(tokens.values), COGNATE_CHARS).to_numpy(zero_copy_only=False)
        for tokens in sides
    ]
    stems = [
        pc.utf8_slice_codeunits(tokens.values.filter(pa.array(mask)), 0, COGNATE_CHARS)
        for tokens, mask in zip(sides, long, strict=True)
    ]
    codes = pc.dictionary_encode(pa.concat_arrays(stems)).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    size = int(codes.max()) + 1 if len(codes) else 1
    split = len(stems[0])
    keys = [
        pa.array(tokens.rows[mask] * size + part)
        for tokens, mask, part in zip(sides, long, (codes[:split], codes[split:]), strict=True)
    ]
    found = []
    for tokens, mask, ours, theirs in zip(sides, long, keys, reversed(keys), strict=True):
        cognate = np.zeros(len(tokens.values), bool)
        cognate[mask] = pc.is_in(ours, value_set=theirs).to_numpy(zero_copy_only=False)
        found.append(cognate)
    return found[0], found[1]


def _found(
    text: Text, keys: np.ndarray, others: np.ndarray, other_texts: dict[int, str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the distinct anchors of one side that the other side has too, and those it has not; an anchor
    missing from the other side's first characters is looked for in its whole text, as anchors do not sit at
    the same place on both sides and the cut may halve one."""
    distinct, first = np.unique(keys, return_index=True)
    rows = text.anchors.rows[first]
    found = np.isin(distinct, others)
    values = text.anchors.values.take(pa.array(first))
    for at in np.flatnonzero(~found).tolist():
        found[at] = _has(other_texts[rows[at]], values[at].as_py())
    return (
        np.bincount(rows[found], minlength=text.anchors.texts).astype(np.float64),
        np.bincount(rows[~found], minlength=text.anchors.texts).astype(np.float64),
    )


def _anchor_counts(
    english: Text, french: Text, english_texts: pa.Array, french_texts: pa.Array
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pair, the distinct English anchors the French side has and has not, then the French ones likewise."""
    codes = pc.unique(pa.concat_arrays([english.anchors.values, french.anchors.values]))
    size = max(len(codes), 1)

    def keys(text: Text) -> np.ndarray:
        ids = pc.index_in(text.anchors.values, value_set=codes).to_numpy(zero_copy_only=False)
        return text.anchors.rows.astype(np.int64) * size + ids

    english_keys, french_keys = keys(english), keys(french)
    return (
        *_found(english, english_keys, french_keys, _suspects(french_texts, english_keys, french_keys, size)),
        *_found(french, french_keys, english_keys, _suspects(english_texts, french_keys, english_keys, size)),
    )


def _suspects(texts: pa.Array, keys: np.ndarray, others: np.ndarray, size: int) -> dict[int, str | None]:
    """The texts of the pairs in which some anchor of `keys` is not among `others`, by pair."""
    rows = np.unique(keys[~np.isin(keys, others)] // size)
    return dict(zip(rows.tolist(), texts.take(pa.array(rows, pa.int64())).to_pylist(), strict=True))


def _has(text: str | None, anchor: str) -> bool:
    """Whether `text` holds `anchor`, as written or lower-cased (TeX commands are read lower-cased)."""
    return text is not None and (anchor in text or anchor in text.lower())


_KIND_NAMES = {"number": "numbers", "command": "TeX commands", "code": "code spans", "url": "URLs"}


def _listed(text: Text) -> list[list[tuple[str, str]]]:
    """Each text's anchors as (kind, anchor), in the order they were found, each once."""
    per_text: list[dict[tuple[str, str], None]] = [{} for _ in range(text.anchors.texts)]
    for row, kind, value in zip(
        text.anchors.rows.tolist(), text.anchor_kinds.tolist(), text.anchors.values.to_pylist(), strict=True
    ):
        per_text[row][(ANCHOR_KINDS[kind], value)] = None
    return [list(anchors) for anchors in per_text]


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
        learned = []
        for side in (0, 1):
            rows = pa.array(np.flatnonzero(fold == side))
            learned.append(Scorer.learn(english.take(rows), french.take(rows), max_chars, iterations, top))
        return cls((learned[0], learned[1]))

    def score(self, english: pa.Array, french: pa.Array) -> Scores:
        fold = folds(english)
        parts = {}
        for side in (0, 1):
            rows = np.flatnonzero(fold == side)
            if len(rows):
                parts[side] = (
                    rows,
                    self.scorers[1 - side].score(english.take(pa.array(rows)), french.take(pa.array(rows))),
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

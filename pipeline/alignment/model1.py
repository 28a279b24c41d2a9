"""IBM Model 1, the lexical translation model, learned by expectation-maximisation from the pairs of the corpus in
both directions, and the log-probability it gives each pair; reads and writes nothing.

Model 1 says that each word of a translation comes from one word of the source (or from none, the NULL word), all
source positions being equally likely: p(f | e) = Π_j (1 / (|e| + 1)) Σ_i t(f_j | e_i). Its table t is learned
from the pairs alone, which is what a corpus with no outside dictionary needs.

Training works on word types: each pair contributes one instance per (source type, target type) it holds, weighted
by the counts of both, so each iteration is one compiled pass over the instances (`kernels.expectation`). Scoring
keeps, for every source word, its most likely translations (the table's other entries are small and spread over
many words), and sums Σ_i t(f_j | e_i) pair by pair over those (`kernels._explained`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.alignment import kernels
from pipeline.alignment.tokens import Tokens

# Translation probabilities below this are dropped before the `top` of each word are chosen: a word whose best
# translations are that unlikely explains nothing.
_NEGLIGIBLE = 1e-3
# The probability a target word gets when no source word of the pair translates it.
FLOOR = 1e-6
LOG_FLOOR = float(np.log(FLOOR))


@dataclass(frozen=True)
class Vocabulary:
    """The words one side of the model knows; a word's id is its position in `words`, which are sorted so that the
    ids do not depend on the order of the texts. `slots` and `ids_of_slots` find a word's id from its key
    (`kernels.index`)."""

    words: pa.Array
    slots: np.ndarray
    ids_of_slots: np.ndarray

    @classmethod
    def of(cls, tokens: Tokens) -> Vocabulary:
        """The distinct words of `tokens`."""
        keys, first = np.unique(tokens.keys, return_index=True)
        words = pa.array(tokens.spelled(first), pa.string())
        order = pc.array_sort_indices(words).to_numpy()
        return cls(words.take(pa.array(order)), *kernels.index(keys[order]))

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, tokens: Tokens) -> np.ndarray:
        """The id of each token, -1 where the word is unknown."""
        return kernels.look_up(self.slots, self.ids_of_slots, tokens.keys)

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The vocabulary as the compiled loops take it: its table of keys (`kernels.index`)."""
        return self.slots, self.ids_of_slots

    def bags(self, tokens: Tokens) -> Bags:
        """The known words of each text, as ids."""
        return Bags.known(self.ids(tokens), tokens.rows, tokens.texts)


@dataclass(frozen=True)
class Bags:
    """Known words as a bag per text, in text order: word `ids[k]` is in text `rows[k]`."""

    ids: np.ndarray
    rows: np.ndarray
    texts: int

    @classmethod
    def known(cls, ids: np.ndarray, rows: np.ndarray, texts: int) -> Bags:
        """The words of `ids` that are known (not -1)."""
        known = ids >= 0
        return cls(ids[known], rows[known], texts)

    def types(self, vocabulary_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each text's distinct words with their counts, plus the NULL word (id `vocabulary_size`) once in every
        text: (text, id, count) arrays, by text."""
        width = vocabulary_size + 1
        rows = np.concatenate([self.rows, np.arange(self.texts)])
        ids = np.concatenate([self.ids, np.full(self.texts, vocabulary_size)])
        keys, counts = np.unique(rows * width + ids, return_counts=True)
        return keys // width, keys % width, counts.astype(np.float64)


@dataclass(frozen=True)
class Table:
    """t(target | source), kept as each source word's `top` most likely target words, and NULL's row whole. Source
    word s's kept target words are `translations[starts[s]:starts[s + 1]]`, most likely first, with their t in
    `probabilities` (a sparse matrix by rows)."""

    starts: np.ndarray
    translations: np.ndarray
    probabilities: np.ndarray
    null: np.ndarray
    # How likely each target word is with no source at all (its share of the target words learned from, smoothed),
    # and that of a word never seen; a word's score is how much more likely the source makes it.
    background: np.ndarray
    unseen: float

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """The table as the compiled loops take it (`kernels._explained`)."""
        return self.starts, self.translations, self.probabilities, self.null, self.background, self.unseen


def learn(
    english: Bags, french: Bags, english_size: int, french_size: int, iterations: int, top: int
) -> tuple[Table, Table]:
    """t(french | english) and t(english | french) after `iterations` rounds of EM over the pairs (english[i],
    french[i]); both directions share one set of instances."""
    grid = _Grid.of(english, french, english_size, french_size)
    forward = grid.direction(source=0, iterations=iterations)
    backward = grid.direction(source=1, iterations=iterations)
    return (
        _table(forward, grid.words[0], grid.words[1], english_size, french_size, french, top),
        _table(backward, grid.words[1], grid.words[0], french_size, english_size, english, top),
    )


@dataclass(frozen=True)
class _Grid:
    """One instance per (English type, French type) of each pair, the NULL word included on both sides (but not
    NULL with NULL): instance k holds the type occurrences `at[0][k]` and `at[1][k]` and the word pair `pair[k]`.
    `words` gives the distinct (English, French) word pairs; `count[side]` is the count of each type occurrence of
    that side in its pair, `ids[side]` its word, and `null[side]` the id of that side's NULL."""

    pair: np.ndarray
    at: tuple[np.ndarray, np.ndarray]
    words: tuple[np.ndarray, np.ndarray]
    count: tuple[np.ndarray, np.ndarray]
    ids: tuple[np.ndarray, np.ndarray]
    null: tuple[int, int]

    @classmethod
    def of(cls, english: Bags, french: Bags, english_size: int, french_size: int) -> _Grid:
        english_text, english_ids, english_counts = english.types(english_size)
        french_text, french_ids, french_counts = french.types(french_size)
        english_at, french_at, pair, distinct = kernels.instances(
            english_ids,
            _bounds(english_text, english.texts),
            french_ids,
            _bounds(french_text, french.texts),
            english_size,
            french_size,
        )
        width = french_size + 1
        return cls(
            pair=pair,
            at=(english_at, french_at),
            words=(distinct // width, distinct % width),
            count=(english_counts, french_counts),
            ids=(english_ids, french_ids),
            null=(english_size, french_size),
        )

    def direction(self, source: int, iterations: int) -> np.ndarray:
        """t(target word | source word) for each distinct pair of words, the target being side `1 - source`; pairs
        whose target is NULL stay at 0, and so explain nothing."""
        target = 1 - source
        source_word = self.words[source]
        t = np.where(self.words[target] == self.null[target], 0.0, 1.0)
        totals = np.zeros(len(self.count[target]))
        for _ in range(iterations):
            counts = np.zeros(len(t))
            kernels.expectation(
                self.pair,
                self.at[source],
                self.at[target],
                t,
                self.count[source],
                self.count[target],
                totals,
                counts,
            )
            per_source = np.bincount(source_word, counts, minlength=self.null[source] + 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                t = np.nan_to_num(counts / per_source[source_word])
        return t


def _bounds(texts: np.ndarray, count: int) -> np.ndarray:
    """Where each of `count` texts starts among values sorted by text (`texts` the text of each), and the end."""
    return np.concatenate([[0], np.cumsum(np.bincount(texts, minlength=count))]).astype(np.int64)


def _table(
    t: np.ndarray,
    sources: np.ndarray,
    targets: np.ndarray,
    source_size: int,
    target_size: int,
    target_words: Bags,
    top: int,
) -> Table:
    """The table of `t`: each real source word's `top` largest entries (ties broken by target id; entries below
    `_NEGLIGIBLE` are never among them that matter), NULL's whole row, and the target words' background."""
    real_target = targets < target_size
    null = (sources == source_size) & real_target
    null_row = np.zeros(target_size)
    null_row[targets[null]] = t[null]
    candidates = np.flatnonzero((sources < source_size) & real_target & (t >= _NEGLIGIBLE))
    order = candidates[np.lexsort((targets[candidates], -t[candidates], sources[candidates]))]
    kept_sources = sources[order]
    starts = np.searchsorted(kept_sources, kept_sources, side="left")
    keep = order[np.arange(len(order)) - starts < top]
    counts = np.bincount(target_words.ids, minlength=target_size).astype(np.float64)
    total = max(counts.sum() + target_size, 1)
    # Positions of 32 bits: the scorer reads the table at random for every word, and fewer bytes are fewer cache misses.
    return Table(
        _bounds(sources[keep], source_size).astype(np.int32),
        targets[keep].astype(np.int32),
        t[keep],
        null_row,
        (counts + 1) / total,
        1 / total,
    )

"""The threshold below which a pair's score says "misaligned", chosen from the corpus itself; reads and writes nothing.

Misaligned pairs cost nothing to make: an English paragraph next to another row's French is one. Their scores show
where misaligned pairs of this very corpus fall. The corpus's own pairs are a mixture of aligned pairs and an
unknown share of misaligned ones, so the lower tail of their scores is not the aligned pairs' alone: below the
median score of the made-up misaligned pairs there are almost only misaligned pairs, which gives their share π, and
the aligned pairs' distribution is what remains once π times the misaligned distribution is taken out:

    F_aligned(s) = (F_corpus(s) - π F_misaligned(s)) / (1 - π)

The threshold is the highest score at which F_aligned stays within the share of aligned pairs the params allow to
lose; F_misaligned at that threshold is the share of misaligned pairs it catches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """A threshold and what it is estimated to do on this corpus."""

    threshold: float
    # Shares of aligned pairs rejected, of made-up neighbour and far misalignments caught, and of misaligned pairs
    # estimated among the corpus's own.
    false_rejects: float
    caught_neighbour: float
    caught_far: float
    misaligned_share: float


def below(sorted_scores: np.ndarray, threshold: float) -> float:
    """The share of `sorted_scores` strictly below `threshold`."""
    if not len(sorted_scores):
        return 0.0
    return float(np.searchsorted(sorted_scores, threshold, side="left") / len(sorted_scores))


def calibrate(corpus: np.ndarray, neighbour: np.ndarray, far: np.ndarray, max_false_rejects: float) -> Calibration:
    """The highest threshold whose estimated share of aligned pairs below it is at most `max_false_rejects`."""
    corpus, neighbour, far = np.sort(corpus), np.sort(neighbour), np.sort(far)
    misaligned = np.sort(np.concatenate([neighbour, far]))
    # Without made-up pairs (every French side alike, or none long enough) nothing says that any pair is misaligned.
    share = 0.0
    if len(misaligned):
        median = float(np.median(misaligned))
        share = min(below(corpus, median) / max(below(misaligned, median), 1e-12), 1.0)

    def aligned_below(thresholds: np.ndarray) -> np.ndarray:
        if share >= 1.0:
            return np.zeros(len(thresholds))
        corpus_below = np.searchsorted(corpus, thresholds, side="left") / max(len(corpus), 1)
        misaligned_below = np.searchsorted(misaligned, thresholds, side="left") / max(len(misaligned), 1)
        return np.maximum((corpus_below - share * misaligned_below) / (1 - share), 0.0)

    # Candidate thresholds are the corpus's own scores, lowest first: the estimate is not monotone where the two
    # empirical distributions cross, so the threshold is the last candidate before the first that overshoots.
    candidates = np.unique(corpus) if len(corpus) else np.zeros(1)
    overshoots = np.flatnonzero(aligned_below(candidates) > max_false_rejects)
    threshold = float(candidates[max(overshoots[0] - 1, 0)] if len(overshoots) else candidates[-1])
    return Calibration(
        threshold=threshold,
        false_rejects=float(aligned_below(np.array([threshold]))[0]),
        caught_neighbour=below(neighbour, threshold),
        caught_far=below(far, threshold),
        misaligned_share=share,
    )

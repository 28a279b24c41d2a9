"""Rules on alignment: `misaligned`, with a translation model learned from the corpus itself; reads and writes
nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.alignment.calibration import Calibration, calibrate
from pipeline.rules.base import LearningRule
from schema.card import MisalignedFacts
from schema.params import ValidateParams

if TYPE_CHECKING:
    from pipeline.alignment.scorer import CrossFitted, Scores

# Rounds of expectation-maximisation, and how many translations of each word the scorer keeps.
ITERATIONS = 5
TRANSLATIONS_KEPT = 5
# Digits of the scores and shares in the metrics and the messages.
_DIGITS = 4


class Misaligned(LearningRule):
    """The two sides do not translate each other: an English paragraph next to the translation of another one.

    Default `reject`: a misaligned pair teaches a model to translate into the wrong text, and no consumer can see
    it. Nothing outside the corpus is needed: IBM Model 1 is learned in both directions from the pairs every other
    rule keeps (`misaligned_sample_rows` of them at most), and scores each pair by how well each side's words and
    anchors (numbers, TeX commands, code spans, URLs) are explained by the other side's. The threshold is learned
    too, from made-up misalignments of this corpus (each English next to its neighbour's and a far row's French):
    the highest score at which an estimated `misaligned_max_false_rejects` of the aligned pairs fall below it.
    Pairs with fewer than `misaligned_min_words` known words on a side are too short to judge and never fire, and
    nothing is judged in a corpus of fewer than `misaligned_min_pairs` pairs, too few to learn from.
    """

    reason = "misaligned"

    def __init__(
        self,
        scorer: CrossFitted | None = None,
        calibration: Calibration | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.scorer = scorer
        self.calibration = calibration
        self.facts: dict[str, Any] = facts or {}

    def prepare(self, rows: int, params: ValidateParams) -> None:
        if min(rows, params.misaligned_sample_rows) >= params.misaligned_min_pairs:
            from pipeline.alignment import scorer

            scorer.load()

    def learn(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> Misaligned:
        pairs = len(english)
        limits = {
            "learned_from": pairs,
            "min_pairs": params.misaligned_min_pairs,
            "min_words": params.misaligned_min_words,
        }
        if pairs < params.misaligned_min_pairs:
            return Misaligned(facts=_facts(MisalignedFacts(judged=False, **limits)))
        # The scorer, and the compiler of its loops, load only for a corpus large enough to learn from.
        from pipeline.alignment.scorer import CrossFitted, folds

        scorer = CrossFitted.learn(english, french, params.misaligned_max_chars, ITERATIONS, TRANSLATIONS_KEPT)
        fold = folds(english)
        # The corpus and its made-up misalignments are scored side by side, as the compiled loops let go of the GIL.
        with ThreadPoolExecutor(max_workers=2) as pool:
            scored = pool.submit(scorer.score, english, french)
            made_up = [pool.submit(_made_up, scorer, english, french, fold, params, far) for far in (False, True)]
            corpus, (neighbour, far) = scored.result(), [future.result() for future in made_up]
        judged = _judged(corpus, params)
        calibration = calibrate(corpus.score[judged], neighbour, far, params.misaligned_max_false_rejects)
        facts = MisalignedFacts(
            judged=True,
            **limits,
            threshold=round(calibration.threshold, _DIGITS),
            too_short_share=round(1 - float(judged.mean()), _DIGITS),
            **{
                f"estimated_{name}": round(value, _DIGITS)
                for name, value in asdict(calibration).items()
                if name != "threshold"
            },
        )
        return Misaligned(scorer, calibration, _facts(facts))

    def summary(self) -> str:
        facts = MisalignedFacts(**self.facts)
        if not facts.judged:
            return f"not judged: {facts.learned_from:,} pairs are too few to learn from (it needs {facts.min_pairs:,})"
        return (
            f"learned from {facts.learned_from:,} pairs; the threshold {facts.threshold:.3f} rejects an estimated "
            f"{facts.estimated_false_rejects:.1%} of aligned pairs and catches {facts.estimated_caught_neighbour:.1%} "
            f"of neighbour shifts and {facts.estimated_caught_far:.1%} of far ones; {facts.too_short_share:.1%} of "
            "pairs are too short to judge"
        )

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        if self.scorer is None or self.calibration is None:
            return pa.nulls(len(english), pa.string())
        scores = self.scorer.score(english, french)
        low = (scores.score < self.calibration.threshold) & _judged(scores, params)
        return self.fired(pa.array(low))

    def explain_rows(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> list[str]:
        assert self.scorer is not None and self.calibration is not None
        scores = self.scorer.score(english, french).score
        return [
            f"score {score:.3f} below {self.calibration.threshold:.3f}" + "".join(f"; {words}" for words in found)
            for score, found in zip(scores.tolist(), self.scorer.disagreements_of(english, french), strict=True)
        ]

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return self.explain_rows(pa.array([english], pa.string()), pa.array([french], pa.string()), params)[0]


def _facts(facts: MisalignedFacts) -> dict[str, Any]:
    return facts.model_dump(exclude_none=True)


def _judged(scores: Scores, params: ValidateParams) -> np.ndarray:
    return (scores.english_words >= params.misaligned_min_words) & (scores.french_words >= params.misaligned_min_words)


def _made_up(
    scorer: CrossFitted, english: pa.Array, french: pa.Array, fold: np.ndarray, params: ValidateParams, far: bool
) -> np.ndarray:
    """Scores of each English next to the French of another pair of its `fold`, the next one or one half the fold
    away (wrapping round), where both can be judged and the two French texts differ. Within a fold, so that the
    model scoring a made-up pair has learned from neither of its sides, as for the corpus's own pairs."""
    found = []
    for side in (0, 1):
        rows = np.flatnonzero(fold == side)
        if not len(rows):
            continue
        shift = len(rows) // 2 if far else 1
        ours, theirs = french.take(pa.array(rows)), french.take(pa.array(np.roll(rows, -shift)))
        scores = scorer.score(english.take(pa.array(rows)), theirs)
        different = pc.fill_null(pc.not_equal(ours, theirs), True).to_numpy(zero_copy_only=False)
        found.append(scores.score[_judged(scores, params) & different])
    return np.concatenate(found) if found else np.zeros(0)

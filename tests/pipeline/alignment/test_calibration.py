"""Tests of pipeline/alignment/calibration.py."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.alignment.calibration import below, calibrate

PAIRS = 4_000
MISALIGNED_SHARE = 0.05


class Corpus:
    """Scores of aligned pairs ~ N(2, 0.5) and of misaligned ones ~ N(-2, 0.5), with made-up misaligned pairs."""

    def __init__(self, misaligned_share: float, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.misaligned = rng.random(PAIRS) < misaligned_share
        self.scores = np.where(self.misaligned, rng.normal(-2, 0.5, PAIRS), rng.normal(2, 0.5, PAIRS))
        self.neighbour = rng.normal(-2, 0.5, 1_000)
        self.far = rng.normal(-2, 0.5, 1_000)

    def calibrate(self, max_false_rejects: float):
        return calibrate(self.scores, self.neighbour, self.far, max_false_rejects)

    def aligned_below(self, threshold: float) -> float:
        return float((self.scores[~self.misaligned] < threshold).mean())


@pytest.fixture(scope="module")
def mixed() -> Corpus:
    return Corpus(MISALIGNED_SHARE)


def test_the_misaligned_share_is_estimated(mixed):
    assert mixed.calibrate(0.01).misaligned_share == pytest.approx(mixed.misaligned.mean(), abs=0.01)


@pytest.mark.parametrize("max_false_rejects", [0.005, 0.01, 0.05])
def test_the_threshold_separates_well_separated_scores(mixed, max_false_rejects):
    calibration = mixed.calibrate(max_false_rejects)
    assert calibration.false_rejects <= max_false_rejects
    assert calibration.caught_neighbour >= 0.99
    assert calibration.caught_far >= 0.99
    assert (mixed.scores[mixed.misaligned] < calibration.threshold).mean() >= 0.99


@pytest.mark.parametrize("max_false_rejects", [0.005, 0.01, 0.05])
def test_estimated_false_rejects_are_the_aligned_pairs_below_the_threshold(mixed, max_false_rejects):
    calibration = mixed.calibrate(max_false_rejects)
    assert calibration.false_rejects == pytest.approx(mixed.aligned_below(calibration.threshold), abs=0.005)


def test_caught_shares_are_the_made_up_pairs_of_each_kind_below_the_threshold():
    rng = np.random.default_rng(6)
    corpus = rng.normal(2, 0.5, 2_000)
    neighbour = np.concatenate([rng.normal(-2, 0.5, 500), rng.normal(4, 0.5, 500)])
    far = rng.normal(-2, 0.5, 1_000)
    calibration = calibrate(corpus, neighbour, far, 0.01)
    assert calibration.caught_neighbour == (neighbour < calibration.threshold).mean()
    assert calibration.caught_far == (far < calibration.threshold).mean()
    assert calibration.caught_neighbour == pytest.approx(0.5, abs=0.01)
    assert calibration.caught_far >= 0.99


def test_a_corpus_without_misaligned_pairs_has_a_share_near_zero():
    calibration = Corpus(0.0).calibrate(0.01)
    assert calibration.misaligned_share <= 0.005
    assert calibration.false_rejects <= 0.01


def test_the_threshold_rises_with_the_false_rejects_allowed(mixed):
    allowed = [0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.3]
    calibrations = [mixed.calibrate(share) for share in allowed]
    thresholds = [calibration.threshold for calibration in calibrations]
    assert thresholds == sorted(thresholds)
    assert thresholds[0] < thresholds[-1]
    for share, calibration in zip(allowed, calibrations, strict=True):
        assert calibration.false_rejects <= share


def test_the_threshold_is_the_highest_that_keeps_within_the_allowed_share():
    scores = np.random.default_rng(3).normal(2, 0.5, 1_000)
    misaligned = np.random.default_rng(4).normal(-8, 0.5, 500)
    calibration = calibrate(scores, misaligned, misaligned, 0.01)
    assert calibration.misaligned_share == 0.0
    ordered = np.sort(scores)
    higher = ordered[ordered > calibration.threshold][0]
    assert below(ordered, calibration.threshold) <= 0.01
    assert below(ordered, higher) > 0.01
    assert calibration.false_rejects == pytest.approx(below(ordered, calibration.threshold))


def test_without_made_up_misaligned_pairs_no_pair_is_taken_for_misaligned():
    scores = np.random.default_rng(5).normal(2, 0.5, 1_000)
    calibration = calibrate(scores, np.zeros(0), np.zeros(0), 0.01)
    assert calibration.misaligned_share < 1.0
    assert below(np.sort(scores), calibration.threshold) <= 0.01


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(0.5, 0.0), (1.0, 0.0), (2.0, 0.25), (2.5, 0.75), (3.0, 0.75), (3.5, 1.0)],
)
def test_below_is_the_share_strictly_below(threshold, expected):
    assert below(np.array([1.0, 2.0, 2.0, 3.0]), threshold) == expected


def test_nothing_is_below_in_no_scores():
    assert below(np.zeros(0), 1.0) == 0.0

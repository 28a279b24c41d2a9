"""Tests of pipeline/rules/alignment.py: the `misaligned` rule learns from a corpus, catches the misalignments
planted in it and explains itself."""

from __future__ import annotations

import csv
import random
import subprocess
import sys
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import validate
from pipeline.io import read_sample
from pipeline.rules import BY_REASON
from pipeline.rules.alignment import Misaligned
from schema.card import MisalignedFacts
from schema.pair import normalize
from schema.params import ValidateParams
from tests.helpers import REPO, SEED, reconstruction

SETTINGS = ValidateParams()
# Planted pairs are judged only where both sides are paragraphs, not headings: shorter pairs are out of the rule's
# reach by design (`misaligned_min_words`).
PARAGRAPH_WORDS = 10
NEIGHBOUR_SWAPS, FAR_SWAPS = 60, 30
SEEDS = range(6)


def read_pairs(path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file, delimiter=";"))[1:]
    return [(row[0], row[1] if len(row) > 1 else "") for row in rows]


def as_batch(pairs: list[tuple[str, str]]) -> pa.RecordBatch:
    return pa.record_batch(
        [
            pa.array(["raw.csv"] * len(pairs)),
            pa.array(range(2, len(pairs) + 2), pa.int64()),
            pa.array([english for english, _ in pairs]),
            pa.array([french for _, french in pairs]),
        ],
        names=["source", "line", "english", "french"],
    )


def planted(pairs: list[tuple[str, str]], seed: int) -> tuple[list[tuple[str, str]], set[int]]:
    """The pairs with some French sides swapped for a neighbour's or a far row's; returns the lines swapped."""
    rng = random.Random(seed)
    rows = rng.sample(range(len(pairs)), NEIGHBOUR_SWAPS + FAR_SWAPS)
    damaged = list(pairs)
    for count, row in enumerate(rows):
        shift = 1 if count < NEIGHBOUR_SWAPS else len(pairs) // 2
        damaged[row] = (pairs[row][0], pairs[(row + shift) % len(pairs)][1])
    return damaged, {row + 2 for row in rows}


def misaligned_lines(pairs: list[tuple[str, str]]) -> tuple[set[int], Misaligned]:
    batch = as_batch(pairs)
    rules = validate.learned(pa.Table.from_batches([batch]), SETTINGS)
    _, rejects = validate.validate_batch(batch, SETTINGS, rules)
    rule = next(rule for rule in rules if rule.reason == "misaligned")
    return {reject["line"] for reject in rejects if "misaligned" in reject["reasons"]}, rule


@cache
def learned_on_reconstruction() -> Misaligned:
    return misaligned_lines(read_pairs(reconstruction()))[1]


def test_planted_misalignments_are_caught_and_real_pairs_kept():
    pairs = read_pairs(reconstruction())
    caught = []
    for seed in SEEDS:
        damaged, swapped = planted(pairs, seed)
        paragraphs = {
            line for line in swapped if min(len(side.split()) for side in damaged[line - 2]) >= PARAGRAPH_WORDS
        }
        rejected, rule = misaligned_lines(damaged)
        caught.append(len(rejected & paragraphs) / len(paragraphs))
        real_rejected = len(rejected - swapped) / (len(pairs) - len(swapped))
        assert real_rejected <= 0.02, (seed, real_rejected)
        assert rule.facts["estimated_misaligned_share"] > 0.01
    assert np.mean(caught) >= 0.95, caught


def test_what_was_learned_is_reported():
    facts = MisalignedFacts(**learned_on_reconstruction().facts)
    assert facts.judged and facts.learned_from > 2_000
    assert facts.estimated_false_rejects <= SETTINGS.misaligned_max_false_rejects
    assert facts.estimated_caught_neighbour > 0.9 and facts.estimated_caught_far > 0.95
    assert 0 < facts.too_short_share < 0.5


def fires(rule: Misaligned, english: str, french: str) -> bool:
    columns = (normalize(pa.array([side])) for side in (english, french))
    return rule.check(*columns, SETTINGS)[0].as_py() == "misaligned"


def test_a_shifted_paragraph_fires_and_its_own_translation_does_not():
    rule = learned_on_reconstruction()
    english = (
        "We discuss the motivation behind deep learning. We begin with the history and inspiration of deep learning."
    )
    own = (
        "Nous discutons de la motivation derrière l'apprentissage profond. Nous commençons par l'histoire et "
        "l'inspiration de l'apprentissage profond."
    )
    other = (
        "Dans cette section, nous présentons les réseaux de neurones récurrents et la manière de les entraîner avec "
        "la rétropropagation dans le temps."
    )
    assert not fires(rule, english, own)
    assert fires(rule, english, other)


def test_anchors_on_one_side_only_are_named():
    rule = learned_on_reconstruction()
    explained = rule.explain(
        "The perceptron was introduced in 1957 and computes $\\sigma(w^\\top x)$ for an input `x`.",
        "Le perceptron a été présenté et calcule une somme pondérée de son entrée.",
        SETTINGS,
    )
    assert explained.startswith("score ")
    assert "numbers 1957 only on the English side" in explained
    assert "TeX commands \\sigma, \\top only on the English side" in explained
    assert "code spans x only on the English side" in explained


def test_an_anchor_further_on_the_other_side_is_not_a_disagreement():
    rule = learned_on_reconstruction()
    english = "In Figure 7, " + "the loss decreases as the training goes on. " * 6
    french = "La perte diminue au fil de l'entraînement. " * 6 + "(figure 7)"
    assert "numbers" not in rule.explain(english, french, SETTINGS)


@pytest.mark.parametrize(
    ("english", "french"),
    [("Week 3", "Semaine 12"), ("Convolution", "Rétropropagation"), ("", "Plan du cours")],
)
def test_pairs_too_short_to_judge_never_fire(english, french):
    assert not fires(learned_on_reconstruction(), english, french)


def test_a_corpus_too_small_to_learn_from_is_not_judged():
    pairs = read_pairs(SEED)
    rejected, rule = misaligned_lines([(english, french) for english, french in pairs][:100])
    assert not rejected
    assert rule.facts == {"judged": False, "learned_from": 99, "min_pairs": 1_000, "min_words": 3}
    assert "too few to learn from" in rule.summary()


def test_a_corpus_too_small_to_learn_from_never_loads_the_compiler(tmp_path):
    # numba is a large import, in time and memory; only learning needs it.
    code = (
        "import sys\n"
        "import pyarrow as pa, pyarrow.parquet as pq\n"
        "from pipeline import validate\n"
        "from tests.pipeline.rules.test_alignment import SEED, SETTINGS, as_batch, read_pairs\n"
        "sample = pa.Table.from_batches([as_batch(read_pairs(SEED))])\n"
        "validate.learned(sample, SETTINGS)\n"
        f"pq.write_table(sample, {str(tmp_path / 'ingested.parquet')!r})\n"
        f"validate.learned_from_input(__import__('pathlib').Path({str(tmp_path / 'ingested.parquet')!r}), SETTINGS)\n"
        "print('numba' in sys.modules)\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True)
    assert shown.stdout.strip() == "False"


def test_the_stage_learns_from_its_input_what_learning_from_the_input_s_sample_gives(tmp_path):
    pairs = read_pairs(reconstruction())
    path = tmp_path / "ingested.parquet"
    pq.write_table(pa.Table.from_batches([as_batch(pairs)]), path, row_group_size=500)
    settings = ValidateParams(misaligned_sample_rows=1_600)
    from_input = next(rule for rule in validate.learned_from_input(path, settings) if rule.reason == "misaligned")
    from_sample = next(
        rule for rule in validate.learned(read_sample(path, 1_600), settings) if rule.reason == "misaligned"
    )
    assert from_input.facts == from_sample.facts
    assert from_input.facts["judged"] and from_input.facts["learned_from"] > 1_000
    english, french = (normalize(pa.array([pair[side] for pair in pairs])) for side in (0, 1))
    assert np.array_equal(
        from_input.scorer.score(english, french).score, from_sample.scorer.score(english, french).score
    )


def test_learning_is_deterministic():
    pairs = read_pairs(reconstruction())[:1_500]
    english, french = (normalize(pa.array([pair[side] for pair in pairs])) for side in (0, 1))
    settings = ValidateParams(misaligned_min_pairs=1_000)
    first, second = (Misaligned().learn(english, french, settings) for _ in range(2))
    assert first.facts == second.facts
    assert np.array_equal(first.scorer.score(english, french).score, second.scorer.score(english, french).score)


def test_an_unlearned_rule_fires_on_nothing():
    assert BY_REASON["misaligned"].check(pa.array(["a b c d"]), pa.array(["e f g h"]), SETTINGS).null_count == 1

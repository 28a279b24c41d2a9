"""Tests of pipeline/alignment/scorer.py."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from pipeline.alignment.model1 import Table, Vocabulary
from pipeline.alignment.scorer import CrossFitted, Scorer, Scores, Sums, folds
from pipeline.alignment.tokens import read
from tests.helpers import REPO

LEXICON = [
    ("cat", "chat"),
    ("dog", "chien"),
    ("house", "maison"),
    ("tree", "arbre"),
    ("river", "rivière"),
    ("small", "petit"),
    ("big", "grand"),
    ("red", "rouge"),
    ("green", "vert"),
    ("sees", "voit"),
    ("eats", "mange"),
    ("likes", "aime"),
    ("bird", "oiseau"),
    ("fish", "poisson"),
    ("garden", "jardin"),
    ("book", "livre"),
    ("water", "eau"),
    ("child", "enfant"),
    ("woman", "femme"),
    ("man", "homme"),
    ("old", "vieux"),
    ("new", "neuf"),
    ("city", "ville"),
    ("near", "près"),
]
PAIRS = 200
MAX_CHARS = 400
ITERATIONS = 5
TOP = 10
ENGLISH = "the cat sees the dog near the river"
FRENCH = "le chat voit le chien près de la rivière"


def corpus() -> tuple[pa.Array, pa.Array]:
    rng = np.random.default_rng(1)
    english, french = [], []
    for _ in range(PAIRS):
        chosen = rng.choice(len(LEXICON), size=int(rng.integers(4, 8)), replace=False)
        english.append("the " + " ".join(LEXICON[i][0] for i in chosen))
        french.append("le " + " ".join(LEXICON[i][1] for i in chosen))
    english.append(ENGLISH)
    french.append(FRENCH)
    return pa.array(english, pa.string()), pa.array(french, pa.string())


def shifted(french: pa.Array) -> pa.Array:
    return pa.concat_arrays([french.slice(1), french.slice(0, 1)])


def one(scorer: Scorer | CrossFitted, english: str | None, french: str | None) -> Scores:
    return scorer.score(pa.array([english], pa.string()), pa.array([french], pa.string()))


@pytest.fixture(scope="module")
def pairs() -> tuple[pa.Array, pa.Array]:
    return corpus()


@pytest.fixture(scope="module")
def scorer(pairs) -> Scorer:
    return Scorer.learn(*pairs, MAX_CHARS, ITERATIONS, TOP)


@pytest.fixture(scope="module")
def crossfitted(pairs) -> CrossFitted:
    return CrossFitted.learn(*pairs, MAX_CHARS, ITERATIONS, TOP)


def test_aligned_pairs_score_above_the_same_english_with_another_rows_french(scorer, pairs):
    english, french = pairs
    aligned = scorer.score(english, french).score
    misaligned = scorer.score(english, shifted(french)).score
    assert (aligned > misaligned).all()


def test_held_out_pairs_still_score_above_misaligned_ones(crossfitted, pairs):
    english, french = pairs
    aligned = crossfitted.score(english, french).score
    misaligned = crossfitted.score(english, shifted(french)).score
    assert (aligned > misaligned).mean() >= 0.95
    assert np.median(aligned) > np.median(misaligned) + 1


def test_a_pair_scores_the_same_alone_and_in_a_batch(scorer, pairs):
    english, french = pairs
    batch = scorer.score(english.slice(0, 20), french.slice(0, 20))
    for row in (0, 7, 19):
        alone = one(scorer, english[row].as_py(), french[row].as_py())
        for field in dataclasses.fields(Scores):
            assert getattr(alone, field.name)[0] == pytest.approx(getattr(batch, field.name)[row])


def test_every_pair_of_a_batch_sums_as_it_does_alone_in_any_order(scorer, pairs):
    english = pa.concat_arrays([pairs[0].slice(0, 12), pa.array(["`x` 3 \\alpha", None, "", "see https://a.b/c 7"])])
    french = pa.concat_arrays([pairs[1].slice(0, 12), pa.array(["`x` 4", "le chat", None, "voir https://a.b/c 7"])])
    rows = np.arange(len(english))[::-1].copy()
    batch = scorer.sums(english, french, rows)
    for position, row in enumerate(rows.tolist()):
        alone = scorer.sums(english.slice(row, 1), french.slice(row, 1))
        for field in dataclasses.fields(Sums):
            assert getattr(alone, field.name)[0] == getattr(batch, field.name)[position], (row, field.name)


@pytest.fixture
def hand_made() -> Scorer:
    """A scorer whose French-given-English table is written by hand: t(xenon | alpha) = 0.5, t(yodel | alpha) =
    0.25, t(yodel | bravo) = 0.75, t(. | NULL) = 0.1 and 0.2, backgrounds 0.5 and 0.25, 0.1 for an unknown word."""
    english = Vocabulary.of(read(pa.array(["alpha bravo"], pa.string()), 100).words)
    french = Vocabulary.of(read(pa.array(["xenon yodel"], pa.string()), 100).words)
    forward = Table(
        starts=np.array([0, 2, 3], np.int32),
        translations=np.array([0, 1, 1], np.int32),
        probabilities=np.array([0.5, 0.25, 0.75]),
        null=np.array([0.1, 0.2]),
        background=np.array([0.5, 0.25]),
        unseen=0.1,
    )
    backward = Table(np.zeros(3, np.int32), np.zeros(0, np.int32), np.zeros(0), np.zeros(2), np.array([0.5, 0.5]), 0.1)
    return Scorer(100, english, french, forward, backward)


def explained(scorer: Scorer, english: list[str], french: list[str]) -> tuple[list[float], list[float]]:
    sums = scorer.sums(pa.array(english, pa.string()), pa.array(french, pa.string()))
    return sums.french_logs.tolist(), sums.french_words.tolist()


def test_explained_words_score_the_mean_of_t_over_the_known_source_words_and_null_against_their_background(
    hand_made,
):
    xenon, yodel = (0.5 + 0.5 + 0.0 + 0.1) / 4, (0.25 + 0.25 + 0.75 + 0.2) / 4
    logs, counts = explained(hand_made, ["alpha alpha bravo zulu", ""], ["xenon yodel wwwww", "yodel"])
    assert logs == pytest.approx([np.log(xenon / 0.5) + np.log(yodel / 0.25), np.log(0.2 / 1 / 0.25)])
    assert counts == [2, 1]


def test_a_cognate_is_translated_at_least_as_one_source_word_and_an_unknown_one_counts(hand_made):
    xenon = (0.5 + 0.5 + 0.0 + 0.1) / 4
    logs, counts = explained(
        hand_made, ["alpha alpha bravo xenons wwwwws", "yodelling"], ["xenon yodel wwwww", "yodel"]
    )
    assert logs[0] == pytest.approx(np.log(xenon / 0.5) + np.log((1.45 / 4) / 0.25) + np.log((1 / 4) / 0.1))
    assert logs[1] == pytest.approx(np.log(1.0 / 0.25))
    assert counts == [3, 1]


def test_known_words_are_counted_unknown_ones_are_not(scorer):
    scores = one(scorer, "the cat sees qwxz", "le chat voit bzzt")
    assert scores.english_words.tolist() == [3]
    assert scores.french_words.tolist() == [3]


@pytest.mark.parametrize(("english", "french"), [("convolution", "convolution"), ("probability", "probabilité")])
def test_unknown_words_beginning_alike_count_as_translated(scorer, english, french):
    cognate = one(scorer, f"the cat sees {english}", f"le chat voit {french}")
    unrelated = one(scorer, f"the cat sees {english}", "le chat voit lapin")
    assert cognate.english_words.tolist() == [4]
    assert cognate.french_words.tolist() == [4]
    assert unrelated.english_words.tolist() == [3]
    assert cognate.score[0] > unrelated.score[0]


def test_short_words_are_not_cognates(scorer):
    scores = one(scorer, "the cat sees abcd", "le chat voit abcd")
    assert scores.english_words.tolist() == [3]


@pytest.mark.parametrize(("english", "french"), [(None, None), ("", ""), ("the cat", None), ("...", "!")])
def test_pairs_without_words_score_zero(scorer, english, french):
    scores = one(scorer, english, french)
    assert scores.score.tolist() == [0.0]


@pytest.mark.parametrize(
    ("anchor", "other"),
    [
        ("1957", "1958"),
        (r"$\alpha$", r"$\beta$"),
        ("`pip install`", "`conda install`"),
        ("https://a.org/x", "https://b.org/y"),
    ],
)
def test_pairs_disagreeing_on_an_anchor_score_lower(scorer, anchor, other):
    agreeing = one(scorer, f"{ENGLISH} {anchor}", f"{FRENCH} {anchor}")
    disagreeing = one(scorer, f"{ENGLISH} {anchor}", f"{FRENCH} {other}")
    missing = one(scorer, f"{ENGLISH} {anchor}", FRENCH)
    assert (agreeing.english_only[0], agreeing.french_only[0]) == (0, 0)
    assert (disagreeing.english_only[0], disagreeing.french_only[0]) == (1, 1)
    assert (missing.english_only[0], missing.french_only[0]) == (1, 0)
    assert disagreeing.score[0] < agreeing.score[0]
    assert missing.score[0] < agreeing.score[0]


def test_anchors_are_compared_within_each_pair(scorer):
    scores = scorer.score(
        pa.array(["the cat sees 1957", "the dog sees"], pa.string()),
        pa.array(["le chat voit", "le chien voit 1957"], pa.string()),
    )
    assert scores.english_only.tolist() == [1, 0]
    assert scores.french_only.tolist() == [0, 1]


def test_an_anchor_beyond_the_other_sides_cut_is_no_disagreement(scorer):
    short = dataclasses.replace(scorer, max_chars=20)
    english = "1957 the cat sees the dog"
    present = one(short, english, "le chat voit le chien en 1957")
    absent = one(short, english, "le chat voit le chien en 1958")
    assert (present.english_only[0], present.french_only[0]) == (0, 0)
    assert (absent.english_only[0], absent.french_only[0]) == (1, 0)
    assert present.score[0] > absent.score[0]
    assert short.disagreements(english, "le chat voit le chien en 1957") == []
    assert short.disagreements(english, "le chat voit le chien en 1958") == ["numbers 1957 only on the English side"]


def test_anchors_beyond_both_cuts_are_not_read(scorer):
    short = dataclasses.replace(scorer, max_chars=20)
    scores = one(short, "the cat sees the dog in 1957", "le chat voit le chien en 1958")
    assert (scores.english_only[0], scores.french_only[0]) == (0, 0)
    assert short.disagreements("the cat sees the dog in 1957", "le chat voit le chien en 1958") == []


@pytest.mark.parametrize(
    ("english", "french", "expected"),
    [
        ("the cat in 1957", "le chat", ["numbers 1957 only on the English side"]),
        ("the cat", "le chat en 1958", ["numbers 1958 only on the French side"]),
        ("in 1957", "en 1958", ["numbers 1957 only on the English side", "numbers 1958 only on the French side"]),
        ("12 and 34", "et", ["numbers 12, 34 only on the English side"]),
        (r"$\alpha$", "x", [r"TeX commands \alpha only on the English side"]),
        ("x", "lancer `pip install`", ["code spans pip install only on the French side"]),
        ("see https://a.org/x", "voir", ["URLs https://a.org/x only on the English side"]),
        (
            "`go` at https://a.org 7",
            r"$\beta$",
            [
                "numbers 7 only on the English side",
                r"TeX commands \beta only on the French side",
                "code spans go only on the English side",
                "URLs https://a.org only on the English side",
            ],
        ),
    ],
)
def test_disagreements_name_the_anchors_of_one_side_only(scorer, english, french, expected):
    assert scorer.disagreements(english, french) == expected


@pytest.mark.parametrize(
    ("english", "french"),
    [
        ("the cat in 1957", "le chat en 1957"),
        (r"$\Delta x$", r"$\Delta x$"),
        ("`pip` https://a.org", "`pip` https://a.org"),
        (None, None),
        ("the cat", None),
    ],
)
def test_pairs_agreeing_on_their_anchors_have_no_disagreements(scorer, english, french):
    assert scorer.disagreements(english, french) == []


def test_folds_depend_only_on_the_english_text():
    english = pa.array(["the cat", "the cat", "the cats", "a dog", "the cat"], pa.string())
    fold = folds(english)
    assert set(fold.tolist()) == {0, 1}
    assert fold[0] == fold[1] == fold[4]
    assert fold[0] != fold[2]
    assert (folds(english.take(pa.array([4, 3, 2, 1, 0]))) == fold[::-1]).all()


def test_each_crossfitted_model_learns_from_one_fold_only(crossfitted, pairs):
    english, french = pairs
    fold = folds(english)
    for side in (0, 1):
        rows = pa.array(np.flatnonzero(fold == side))
        for scorer, texts in (
            (crossfitted.scorers[side].english, english),
            (crossfitted.scorers[side].french, french),
        ):
            words = read(texts.take(rows), MAX_CHARS).words.values
            assert set(scorer.words.to_pylist()) == set(words.to_pylist())


def test_crossfitted_never_scores_a_pair_with_the_model_that_learned_from_it(crossfitted, pairs):
    english, french = pairs
    fold = folds(english)
    scores = crossfitted.score(english, french)
    for side in (0, 1):
        rows = pa.array(np.flatnonzero(fold == side))
        other = crossfitted.scorers[1 - side].score(english.take(rows), french.take(rows))
        own = crossfitted.scorers[side].score(english.take(rows), french.take(rows))
        for field in dataclasses.fields(Scores):
            assert (getattr(scores, field.name)[rows.to_numpy()] == getattr(other, field.name)).all()
        assert not np.allclose(scores.score[rows.to_numpy()], own.score)


def test_crossfitted_chooses_the_model_by_the_english_side_alone(crossfitted):
    english = ENGLISH
    model = crossfitted.scorers[1 - int(folds(pa.array([english]))[0])]
    for french in (FRENCH, FRENCH + "!", "le chat"):
        assert one(crossfitted, english, french).score[0] == one(model, english, french).score[0]


def test_crossfitted_disagreements_are_the_scorers(crossfitted):
    assert crossfitted.disagreements("the cat in 1957", "le chat") == ["numbers 1957 only on the English side"]


def test_crossfitted_learned_from_one_fold_only_still_scores_every_pair():
    english = pa.array(["the cat", "the dog", "a big cat", "a big dog"], pa.string())
    french = pa.array(["le chat", "le chien", "un gros chat", "un gros chien"], pa.string())
    assert set(folds(english).tolist()) == {1}
    scores = CrossFitted.learn(english, french, MAX_CHARS, ITERATIONS, TOP).score(english, french)
    assert scores.english_words.tolist() == [0, 0, 0, 0]
    assert scores.french_words.tolist() == [0, 0, 0, 0]


def test_load_readies_every_loop_that_learning_and_scoring_use_on_a_stage_s_columns():
    # A loop loaded for other argument types than a stage's would leave the real first use to load (or compile) again.
    code = """
from pipeline.alignment import kernels, scorer
from schema.pair import normalize
import pyarrow as pa
LOOPS = ("scan", "index", "look_up", "instances", "expectation", "pair_sums")
scorer.load()
loaded = {name: list(getattr(kernels, name).signatures) for name in LOOPS}
english = normalize(pa.array(["The cat sees 3 birds.", "A dog eats `x`.", None] * 400, pa.large_string()))
french = normalize(pa.array(["Le chat voit 3 oiseaux.", "Un chien mange `x`.", "rien"] * 400, pa.large_string()))
scores = scorer.CrossFitted.learn(english, french, 200, 2, 5).score(english, french)
print(all(loaded.values()), loaded == {name: list(getattr(kernels, name).signatures) for name in LOOPS})
"""
    shown = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert shown.stdout.split() == ["True", "True"], shown.stderr

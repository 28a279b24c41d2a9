"""Tests of pipeline/rules/length.py."""

from __future__ import annotations

import pytest

PARAGRAPH_EN = (
    "Understanding 1D convolution In this part we will discuss convolution, since we would like to explore the "
    "sparsity, stationarity, compositionality of the data. Instead of using the matrix A discussed in the previous "
    "week, we are going to change the matrix width to the kernel size k. "
) * 4
PARAGRAPH_FR = (
    "Au lieu d'utiliser la matrice A de la semaine précédente, nous allons changer la largeur de la matrice pour la "
    "taille du noyau k. Par conséquent, chaque ligne de la matrice est un noyau. "
) * 4


@pytest.mark.parametrize(
    ("english", "french", "fired"),
    [
        ("a" * 5_001, "Plan du cours", True),
        ("Plan", "é" * 5_001, True),
        ("a" * 5_000, "é" * 5_000, False),
        ("Course plan", "Plan du cours", False),
        (None, None, False),
    ],
)
def test_too_long(fires, english, french, fired):
    assert fires("too_long", english, french) is fired


def test_too_long_follows_params(fires):
    assert fires("too_long", "Course plan", "Plan du cours", max_chars=12)
    assert not fires("too_long", "Course plan", "Plan du cours", max_chars=13)


@pytest.mark.parametrize(
    ("english", "french", "fired"),
    [
        (PARAGRAPH_EN, "Comprendre la convolution 1D", True),
        ("Understanding 1D convolution", PARAGRAPH_FR, True),
        (PARAGRAPH_EN, PARAGRAPH_FR, False),
        ("Deep Learning for NLP", "Apprentissage profond pour le traitement du langage naturel", False),
        ("Using chain rule for vector functions", "Utilisation de la règle de la chaîne " * 3, False),
        ("Understanding 1D convolution", None, False),
    ],
)
def test_length_ratio(fires, english, french, fired):
    assert fires("length_ratio", english, french) is fired


def test_length_ratio_short_pairs_are_judged_when_params_say_so(fires):
    english, french = "Free energy:", "L'énergie libre correspond à :"
    assert not fires("length_ratio", english, french)
    assert fires("length_ratio", english, french, ratio_min_chars=10, ratio_max=2.0)


@pytest.mark.parametrize(
    ("english", "french", "fired"),
    [
        ("ReLU", "ReLU", True),
        ("Tanh - `nn.Tanh()`", " Tanh -  `nn.Tanh()`", True),
        ("Convolution", "Convolution", True),
        ("Course plan", "Plan du cours", False),
        ("", "", False),
        (None, None, False),
    ],
)
def test_identical_sides(fires, english, french, fired):
    assert fires("identical_sides", english, french) is fired

"""Tests of pipeline/rules/markup.py."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.rules.markup import Markup
from schema.params import ValidateParams


@pytest.mark.parametrize(
    ("english", "french", "fired"),
    [
        (
            '<img src="{{site.baseurl}}/images/week02/02-1/x.PNG" alt="x" style="zoom:50%;" /> is an observed input',
            '<img src="{{site.baseurl}}/images/week02/02-1/x.PNG" alt="x" /> est une entrée observée',
            True,
        ),
        ("Back propagation: `loss.backward()`<br>", "Rétropropagation : `loss.backward()`<br>", True),
        ("<b>Note:</b> In order to represent PCA", "<b>Note :</b> Pour représenter l'ACP", True),
        ("the <u>actual</u>-softmax", "le softmax *réel*", True),
        ("window size is 4 <!--the overall subsampling", "la taille de la fenêtre est de 4", True),
        ("See {{ page.title }}", "Voir le titre", True),
        ("{% include figure.html %} The figure", "La figure", True),
        ("Spiral ![spiral](images/spiral.png)", "Spirale", True),
        (
            "If we print `y.grad_fn`, we will get `<SubBackward0 object at 0x12904b290>`",
            "Si nous affichons `y.grad_fn`, nous obtenons l'objet `<SubBackward0 à 0x12904b290>`",
            False,
        ),
        ("when $a < b$ and $c > d$", "quand $a < b$ et $c > d$", False),
        (r"$\frac{1}{b} \left(\sum_{i=1}^n e^{b X_i} \right)$", r"$\frac{1}{b}$", False),
        ("Deep Learning for NLP", "Apprentissage profond pour le traitement du langage naturel", False),
    ],
)
def test_markup(fires, english, french, fired):
    assert fires("markup", english, french) is fired


def test_markup_message_names_kind_and_side():
    message = Markup().explain("window size is 4 <!--the overall", "la taille de la fenêtre", ValidateParams())
    assert message == "an HTML comment on the English side"


def test_markup_messages_of_a_batch_name_each_rows_kinds_and_sides():
    rows = [
        ("<b>Note:</b> In order", "Pour représenter"),
        ("window size is 4", "la taille --> de la fenêtre"),
        ("See {{ page.title }}", "Voir {{ page.title }}"),
        (None, "Spirale ![spiral](images/spiral.png) <br>"),
    ]
    english, french = (pa.array([row[side] for row in rows], pa.string()) for side in (0, 1))
    assert Markup().explain_rows(english, french, ValidateParams()) == [
        "an HTML tag on the English side",
        "an HTML comment on the French side",
        "a Liquid/Jinja expression on the English and French side",
        "an HTML tag, a markdown image on the French side",
    ]


@pytest.mark.parametrize(
    ("english", "french", "fired"),
    [
        ("the conceptual basis of *pattern* recognition", "la reconnaissance des motifs", True),
        ("**Fourier Transform**", "**Transformation de Fourier**", True),
        ("Calling `nn.Dropout()`", "Appeler nn.Dropout()", True),
        ("Max Pooling", "Max-*pooling*", True),
        ("the optimum $w^*$ is reached", "l'optimum $w^*$ est atteint", False),
        ("3 * 4 = 12", "3 * 4 = 12", False),
        ("Course plan", "Plan du cours", False),
    ],
)
def test_markdown_emphasis(fires, english, french, fired):
    assert fires("markdown_emphasis", english, french) is fired

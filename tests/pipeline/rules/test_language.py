"""Tests of pipeline/rules/language.py: the identifier runs offline on the model bundled with py3langid."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline.rules.language import WrongLanguage, cut, identifier, model_cache, prose
from schema.params import ValidateParams

ENGLISH = (
    "On a conceptual level, deep learning is inspired by the brain but not all of the brain's details are relevant."
)
FRENCH = (
    "Sur le plan conceptuel, l’apprentissage profond est inspiré par le cerveau. Cependant tous les détails du "
    "cerveau ne sont pas pertinents."
)


@pytest.mark.parametrize(
    ("english", "french", "fired"),
    [
        (ENGLISH, FRENCH, False),
        (FRENCH, ENGLISH, True),
        (FRENCH, FRENCH, True),
        (ENGLISH, ENGLISH, True),
        (FRENCH, None, True),
        ("Convolutional sparse auto-encoder on natural images", "Auto-encodeur convolutif épars sur des images", False),
        ("ReLU - `nn.ReLU()`", "ReLU - `nn.ReLU()`", False),
        (
            "Typically Rectified Linear Unit (ReLU): $\\text{ReLU}(x) = \\max(x, 0)$",
            "*Rectified Linear Unit* (ReLU) : $\\text{ReLU}(x) = \\max(x, 0)$.",
            False,
        ),
        (
            "The more efficient way is called Stochastic Gradient Descent (SGD). Since we want to minimize loss",
            "Le chemin le plus efficace est appelé la « descente de gradient stochastique » (SGD en anglais pour "
            "*Stochastic Gradient Descent*).",
            False,
        ),
    ],
)
def test_wrong_language(fires, english, french, fired):
    assert fires("wrong_language", english, french) is fired


def test_short_sides_are_exempt(fires):
    assert not fires("wrong_language", "Plan du cours", "Course plan")
    assert fires("wrong_language", FRENCH, ENGLISH, language_min_chars=5)
    assert not fires("wrong_language", FRENCH, ENGLISH, language_min_chars=500)


def test_prose_drops_maths_code_markup_and_emphasised_terms():
    text = "Le *pooling* `nn.MaxPool2d()` de $\\text{Max}_i(X_i)$ <br> garde {{site.baseurl}} le maximum : 42 !"
    assert prose(pa.array([text, None]), 200).to_pylist() == ["Le de garde le maximum", None]


def test_message_says_which_side_reads_as_what():
    message = WrongLanguage().explain(FRENCH, ENGLISH, ValidateParams())
    assert message.startswith("the English side reads as fr (p=")
    assert "the French side reads as en" in message


SAMPLES = [
    "The gradient of the loss with respect to the weights is computed by backpropagation.",
    "Le gradient de la perte par rapport aux poids est calculé par rétropropagation.",
    "Energy-based models assign low energy to compatible pairs",
    "Réseaux convolutifs",
    "x",
]


def _bundled_model_must_not_be_loaded(*args, **kwargs):
    raise AssertionError("the cached model should have been used")


def test_identifier_model_is_cached_uncompressed_and_judges_as_the_bundled_one(tmp_path, monkeypatch):
    from py3langid.langid import _load_identifier

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    identifier.cache_clear()
    try:
        built = identifier()
        assert model_cache().is_relative_to(tmp_path) and model_cache().is_file()
        assert list(model_cache().parent.iterdir()) == [model_cache()]
        bundled = _load_identifier(norm_probs=True, langs=["en", "fr"])
        identifier.cache_clear()
        monkeypatch.setattr("py3langid.langid._load_identifier", _bundled_model_must_not_be_loaded)
        reread = identifier()
        for text in SAMPLES:
            assert reread.classify(text) == built.classify(text) == bundled.classify(text)
    finally:
        identifier.cache_clear()


def test_an_unreadable_model_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model_cache().parent.mkdir(parents=True)
    model_cache().write_bytes(b"half a file")
    identifier.cache_clear()
    try:
        assert identifier().classify(SAMPLES[0])[0] == "en"
        assert model_cache().stat().st_size > 1_000_000
    finally:
        identifier.cache_clear()


def test_cut_keeps_the_first_characters_of_long_texts_only():
    texts = pa.array(["é" * 5, "é" * 3, "abcdef", None, "ab"], pa.string())
    assert cut(texts, 4).to_pylist() == ["é" * 4, "é" * 3, "abcd", None, "ab"]
    assert cut(texts, 4).to_pylist() == pc.utf8_slice_codeunits(texts, 0, 4).to_pylist()
    short = pa.array(["abc", None], pa.string())
    assert cut(short, 4) is short


# English by its function words, French to the identifier: `check` settles it as English, and so must the message.
SETTLED_ENGLISH = "The réseau neuronal convolutif profond apprend représentations hiérarchiques"


def test_every_fired_row_is_explained_and_no_other():
    pairs = [(english, french) for english in [*SAMPLES, SETTLED_ENGLISH] for french in SAMPLES]
    english, french = pa.array([e for e, _ in pairs], pa.string()), pa.array([f for _, f in pairs], pa.string())
    params = ValidateParams()
    fired = WrongLanguage().check(english, french, params).is_valid().to_pylist()
    explained = [bool(text) for text in WrongLanguage().explain_rows(english, french, params)]
    assert any(fired) and not all(fired)
    assert explained == fired

"""Rules on languages: `wrong_language`, with py3langid's bundled model; reads and writes nothing."""

from __future__ import annotations

from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.rules.base import Rule
from schema.params import ValidateParams

# What is not prose in the course notes: display and inline maths, code spans, emphasised terms (the French side
# italicises the English names of concepts), tags, template expressions, links, TeX commands, then anything that is
# not a letter. Left in, they pull short French sentences towards English.
_NOT_PROSE = [
    r"\$\$[^$]*\$\$",
    r"\$[^$]*\$",
    r"`[^`]*`",
    r"\*\*?[^*]+\*\*?",
    r"<[^>]*>",
    r"\{\{[^}]*\}\}|\{%[^%]*%\}",
    r"https?://\S+",
    r"\\[A-Za-z]+",
    r"[^\pL\s'’-]+",
]


_NOT_PROSE_AT_ALL = "|".join(f"(?:{pattern})" for pattern in _NOT_PROSE)
# The identifier reads `max_chars` of prose; four times as much raw text leaves that after the cuts on all but
# formula-heavy texts, and saves rewriting whole paragraphs.
_RAW_PER_PROSE_CHAR = 4


def prose(texts: pa.Array, max_chars: int) -> pa.Array:
    """The letters-and-spaces part of each text that the identifier sees, cut to `max_chars`."""
    texts = pc.utf8_slice_codeunits(texts, 0, _RAW_PER_PROSE_CHAR * max_chars)
    texts = pc.replace_substring_regex(texts, _NOT_PROSE_AT_ALL, " ")
    texts = pc.utf8_trim(pc.replace_substring_regex(texts, r"\s+", " "), characters=" ")
    return pc.utf8_slice_codeunits(texts, 0, max_chars)


@cache
def identifier() -> Any:
    """py3langid restricted to English and French, with probabilities; its model ships inside the package."""
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True, langs=["en", "fr"])


# Function words of one language that are not words of the other. A side whose own language's function words
# clearly outnumber the other's (at least 1 + 2 × theirs) is settled without the identifier, which costs some
# 130 µs a text against 2 µs for this count. On the reconstruction this settles 3,141 of the 3,233 sides long
# enough to judge, and the identifier reads none of those 3,141 as the other language.
FUNCTION_WORDS = {
    "en": r"(?i)\b(the|and|of|is|are|this|that|with|which|we|it|for|from|can)\b",
    "fr": r"(?i)\b(le|la|les|des|du|est|sont|une|et|nous|dans|que|qui|pour|avec|sur)\b",
}
SETTLED_MARGIN = 1


def identify(texts: pa.Array, params: ValidateParams, expected: str | None = None) -> list[tuple[str, float] | None]:
    """(language, probability) per text, None where too little prose is left to judge.

    With `expected` ("en" or "fr"), texts whose function words plainly belong to that language are not sent to
    the identifier and come back as (expected, 1.0); only the others are cut down to prose, which is the costly
    part.
    """
    results: list[tuple[str, float] | None] = [None] * len(texts)
    rest = pc.indices_nonzero(pc.is_valid(texts))
    if expected is not None:
        raw = pc.utf8_slice_codeunits(texts, 0, _RAW_PER_PROSE_CHAR * params.language_max_chars)
        other = "fr" if expected == "en" else "en"
        own_words = pc.count_substring_regex(raw, FUNCTION_WORDS[expected])
        other_words = pc.count_substring_regex(raw, FUNCTION_WORDS[other])
        settled = pc.fill_null(
            pc.greater_equal(own_words, pc.add(pc.multiply(other_words, 2), SETTLED_MARGIN)), False
        )
        for index in pc.indices_nonzero(settled).to_pylist():
            results[index] = (expected, 1.0)
        rest = pc.indices_nonzero(pc.and_(pc.is_valid(texts), pc.invert(settled)))
    if not len(rest):
        return results
    cut = prose(texts.take(rest), params.language_max_chars)
    judged = pc.fill_null(pc.greater_equal(pc.utf8_length(cut), params.language_min_chars), False)
    classify = identifier().classify
    for index, text in zip(rest.filter(judged).to_pylist(), cut.filter(judged).to_pylist(), strict=True):
        results[index] = classify(text)
    return results


class WrongLanguage(Rule):
    """The English side reads as French, or the French side as English (this also catches swapped sides).

    Default `reject`: a side in the wrong language is a shifted or swapped row, and training on it teaches a model
    to copy. Only sides with at least `language_min_chars` letters of prose (maths, code, emphasised terms and
    markup removed) are judged, and only a `language_min_confidence` verdict fires: headings such as
    "Convolutional sparse auto-encoder on natural images" are too short and too technical to tell apart.
    The identifier is py3langid restricted to {en, fr}: on the 2,292-row reconstruction it misjudged none of the
    sides it was sure about, while lingua, langdetect and fastText's lid.176 each misjudged several clean headings.
    """

    reason = "wrong_language"

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        wrong_english = self._reads_as(identify(english, params, "en"), "fr", params)
        wrong_french = self._reads_as(identify(french, params, "fr"), "en", params)
        return self.fired(pc.or_(wrong_english, wrong_french))

    @staticmethod
    def _reads_as(verdicts: list[tuple[str, float] | None], language: str, params: ValidateParams) -> pa.Array:
        return pa.array(
            [v is not None and v[0] == language and v[1] >= params.language_min_confidence for v in verdicts],
            pa.bool_(),
        )

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return self.explain_rows(pa.array([english], pa.string()), pa.array([french], pa.string()), params)[0]

    def explain_rows(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> list[str]:
        # One identification for all reported sides: cutting texts to prose costs a regex compilation per call.
        verdicts = identify(pa.concat_arrays([english, french]), params)
        return [
            "; ".join(
                f"the {side} side reads as {verdict[0]} (p={verdict[1]:.2f})"
                for side, expected, verdict in (("English", "en", verdicts[row]),
                                                ("French", "fr", verdicts[len(english) + row]))
                if verdict is not None and verdict[0] != expected and verdict[1] >= params.language_min_confidence
            )
            for row in range(len(english))
        ]

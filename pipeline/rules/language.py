"""Rules on languages: `wrong_language`, with py3langid's bundled model; reads and writes nothing but the model's cache
(see `identifier`)."""

from __future__ import annotations

import os
import tempfile
import zipfile
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.arrow import rewrite_where
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
    texts = cut(texts, _RAW_PER_PROSE_CHAR * max_chars)
    texts = pc.replace_substring_regex(texts, _NOT_PROSE_AT_ALL, " ")
    texts = pc.utf8_trim(pc.replace_substring_regex(texts, r"\s+", " "), characters=" ")
    return cut(texts, max_chars)


def cut(texts: pa.Array, max_chars: int) -> pa.Array:
    """Each text cut to its first `max_chars` characters. A text of at most `max_chars` bytes has at most that many
    characters, so only longer ones are sliced, instead of copying every text."""
    long = pc.greater(pc.binary_length(texts), max_chars)
    return rewrite_where(texts, long, lambda subset: pc.utf8_slice_codeunits(subset, 0, max_chars))


LANGUAGES = ("en", "fr")


@cache
def identifier() -> Any:
    """py3langid restricted to English and French, with probabilities; its model ships inside the package.

    The bundled model is LZMA-compressed, and decompressing it is slow in every process that judges a text. The
    restricted model is therefore kept uncompressed in the user's cache, under py3langid's version, and read from
    there much faster; a missing or unreadable copy is rebuilt from the bundled model.
    """
    from py3langid.langid import LanguageIdentifier, _load_identifier
    from py3langid.modelio import _to_array

    cached = model_cache()
    try:
        with np.load(cached, allow_pickle=False) as model:
            return LanguageIdentifier(
                model["ptc"],
                model["pc"],
                model["classes"].tolist(),
                _to_array(model["nextmove"]),
                model["output"].tolist(),
                norm_probs=True,
                tk_row=_to_array(model["row"]),
            )
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
        loaded = _load_identifier(norm_probs=True, langs=list(LANGUAGES))
    with suppress(OSError):
        _keep(loaded, cached)
    return loaded


def _keep(loaded: Any, path: Path) -> None:
    """Writes the restricted model to `path` under a name of its own first, so that a process reading it never sees
    it half written, whatever other processes are writing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as file:
        try:
            np.savez(
                file,
                ptc=loaded.nb_ptc,
                pc=loaded.nb_pc,
                classes=np.array(loaded.nb_classes),
                nextmove=np.frombuffer(loaded.tk_nextmove, dtype=f"u{loaded.tk_nextmove.itemsize}"),
                row=np.frombuffer(loaded.tk_row, dtype=f"u{loaded.tk_row.itemsize}"),
                output=np.array(loaded.tk_output, dtype=np.int32),
            )
            file.close()
            os.replace(file.name, path)
        finally:
            Path(file.name).unlink(missing_ok=True)


def model_cache() -> Path:
    """Where the restricted identifier model is kept: `$XDG_CACHE_HOME` (default `~/.cache`)/nyu-enfr/."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "nyu-enfr" / f"py3langid-{version('py3langid')}-{'-'.join(LANGUAGES)}.npz"


# Function words of one language that are not words of the other. A side whose own language's function words
# clearly outnumber the other's (at least `SETTLED_MARGIN` + `SETTLED_FACTOR` × theirs) is settled without the
# identifier, which costs far more per text than this count. On the reconstruction this settles nearly every side
# long enough to judge, and the identifier reads none of those as the other language.
FUNCTION_WORDS = {
    "en": r"(?i)\b(the|and|of|is|are|this|that|with|which|we|it|for|from|can)\b",
    "fr": r"(?i)\b(le|la|les|des|du|est|sont|une|et|nous|dans|que|qui|pour|avec|sur)\b",
}
SETTLED_MARGIN = 1
SETTLED_FACTOR = 2


@dataclass(frozen=True)
class Verdicts:
    """Per text, the language it reads as and the probability of that reading; both null where there is too little
    prose to judge."""

    language: pa.Array
    probability: pa.Array

    def reads_as(self, language: str, min_probability: float) -> pa.Array:
        """Whether each text reads as `language` with at least `min_probability` (false where not judged)."""
        sure = pc.and_(pc.equal(self.language, language), pc.greater_equal(self.probability, min_probability))
        return pc.fill_null(sure, False)


def _settled(texts: pa.Array, expected: str, max_chars: int) -> pa.Array:
    """Texts whose function words plainly belong to `expected` (see FUNCTION_WORDS).

    Counting matches costs a regex search per match; knowing whether a text has any costs one scan. Nearly every
    text has its own language's words and none of the other's, which settles it (1 ≥ 1 + 2 × 0); only the rest
    are counted.
    """
    other = "fr" if expected == "en" else "en"
    raw = cut(texts, _RAW_PER_PROSE_CHAR * max_chars)
    own_any = pc.match_substring_regex(raw, FUNCTION_WORDS[expected])
    other_any = pc.match_substring_regex(raw, FUNCTION_WORDS[other])
    settled = pc.fill_null(pc.and_(own_any, pc.invert(other_any)), False)
    mixed = pc.indices_nonzero(pc.fill_null(pc.and_(own_any, other_any), False))
    if len(mixed):
        both = raw.take(mixed)
        own = pc.count_substring_regex(both, FUNCTION_WORDS[expected])
        theirs = pc.count_substring_regex(both, FUNCTION_WORDS[other])
        outnumbered = pc.greater_equal(own, pc.add(pc.multiply(theirs, SETTLED_FACTOR), SETTLED_MARGIN))
        settled = pc.replace_with_mask(settled, _scatter(mixed, len(texts)), outnumbered)
    return settled


def _scatter(positions: pa.Array, length: int) -> pa.Array:
    """A boolean mask of `length` rows, true at `positions` (ascending)."""
    mask = np.zeros(length, dtype=bool)
    mask[positions.to_numpy()] = True
    return pa.array(mask)


def identify(texts: pa.Array, params: ValidateParams, expected: str | None = None) -> Verdicts:
    """The language of each text, as far as it can be judged.

    With `expected` ("en" or "fr"), texts whose function words plainly belong to that language are not sent to
    the identifier and read as `expected` with probability 1; only the others are cut down to prose, which is the
    costly part.
    """
    language = pa.nulls(len(texts), pa.string())
    probability = pa.nulls(len(texts), pa.float64())
    open_ = pc.is_valid(texts)
    if expected is not None:
        settled = _settled(texts, expected, params.language_max_chars)
        language = pc.if_else(settled, pa.scalar(expected), language)
        probability = pc.if_else(settled, pa.scalar(1.0), probability)
        open_ = pc.and_(open_, pc.invert(settled))
    rest = pc.indices_nonzero(open_)
    if not len(rest):
        return Verdicts(language, probability)
    prose_texts = prose(texts.take(rest), params.language_max_chars)
    judged = pc.fill_null(pc.greater_equal(pc.utf8_length(prose_texts), params.language_min_chars), False)
    judged_at = rest.filter(judged)
    if not len(judged_at):
        return Verdicts(language, probability)
    classify = identifier().classify
    readings = [classify(text) for text in prose_texts.filter(judged).to_pylist()]
    mask = _scatter(judged_at, len(texts))
    language = pc.replace_with_mask(language, mask, pa.array([reading[0] for reading in readings], pa.string()))
    probability = pc.replace_with_mask(probability, mask, pa.array([float(reading[1]) for reading in readings]))
    return Verdicts(language, probability)


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
        sure = params.language_min_confidence
        wrong_english = identify(english, params, "en").reads_as("fr", sure)
        wrong_french = identify(french, params, "fr").reads_as("en", sure)
        return self.fired(pc.or_(wrong_english, wrong_french))

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return self.explain_rows(pa.array([english], pa.string()), pa.array([french], pa.string()), params)[0]

    def explain_rows(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> list[str]:
        # Each side is judged as `check` judged it (its own function words settle it), so the words say what fired.
        sides = [
            (name, expected, identify(texts, params, expected))
            for name, expected, texts in (("English", "en", english), ("French", "fr", french))
        ]
        readings = [
            (name, expected, verdicts.language.to_pylist(), verdicts.probability.to_pylist())
            for name, expected, verdicts in sides
        ]
        return [
            "; ".join(
                f"the {name} side reads as {languages[row]} (p={probabilities[row]:.2f})"
                for name, expected, languages, probabilities in readings
                if languages[row] is not None
                and languages[row] != expected
                and probabilities[row] >= params.language_min_confidence
            )
            for row in range(len(english))
        ]

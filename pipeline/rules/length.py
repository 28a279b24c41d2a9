"""Rules on lengths: `too_long`, `length_ratio`, `identical_sides`; reads and writes nothing."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.rules.base import Rule, empty, lengths, longer_than
from schema.params import ValidateParams


class TooLong(Rule):
    """A side has more than `max_chars` characters.

    Default `reject` at 5,000: the longest single paragraphs of the course notes stay under that; longer sides
    are several units merged into one row, beyond the context length translation models are trained on.
    """

    reason = "too_long"

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        return self.fired(pc.or_(longer_than(english, params.max_chars), longer_than(french, params.max_chars)))

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return (
            f"a side is longer than {params.max_chars:,} characters "
            f"(English {len(english or ''):,}, French {len(french or ''):,})"
        )


class LengthRatio(Rule):
    """len(french) / len(english) lies outside [`ratio_min`, `ratio_max`], on pairs whose longer side has at
    least `ratio_min_chars` characters.

    Default `reject` with bounds 0.25 and 4.0 from 100 characters: French runs about 15 % longer than English and
    a free translation of a short heading can easily double it ("Deep Learning for NLP" has 59 characters in
    French), but a 900-character English paragraph against a 28-character French heading is a shifted or merged
    row, not a translation. Both sides empty are left to the emptiness rules.
    """

    reason = "length_ratio"

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        english_chars, french_chars = lengths(english), lengths(french)
        judged = pc.and_(
            pc.greater_equal(pc.max_element_wise(english_chars, french_chars), params.ratio_min_chars),
            pc.and_(pc.greater(english_chars, 0), pc.greater(french_chars, 0)),
        )
        ratio = pc.divide(pc.cast(french_chars, pa.float64()), pc.cast(english_chars, pa.float64()))
        outside = pc.or_(pc.less(ratio, params.ratio_min), pc.greater(ratio, params.ratio_max))
        return self.fired(pc.and_(judged, outside))

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        english_chars, french_chars = len(english or ""), len(french or "")
        return (
            f"French/English length ratio {french_chars / english_chars:.2f} ({french_chars:,}/{english_chars:,} "
            f"characters) is outside [{params.ratio_min}, {params.ratio_max}]"
        )


class IdenticalSides(Rule):
    """Both sides are the same text.

    Default `flag`: technical headings are legitimately identical in both languages ("ReLU", "Momentum",
    "Word2Vec", "Tanh - `nn.Tanh()`"), while an untranslated paragraph copied to the French side is already caught
    by `wrong_language`. Flagging lets a consumer drop copies when training a model that must always translate.
    """

    reason = "identical_sides"

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        return self.fired(pc.and_(pc.equal(english, french), pc.invert(empty(english))))

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return "the English and French sides are identical"

"""Rules on missing sides: `empty_english`, `empty_french`; reads and writes nothing."""

from __future__ import annotations

import pyarrow as pa

from pipeline.rules.base import Rule, empty
from schema.params import ValidateParams


class EmptyEnglish(Rule):
    """The English side is null or blank once normalised.

    Default `reject`: a pair with one side missing teaches a translation model nothing, and usually means the
    unit was lost in conversion (the French text may sit on the next row).
    """

    reason = "empty_english"

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        return self.fired(empty(english))

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return "the English side is empty"


class EmptyFrench(Rule):
    """The French side is null or blank once normalised.

    Default `reject`, for the same reason as `empty_english`; the published corpus has one such row, a section
    title left untranslated.
    """

    reason = "empty_french"

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        return self.fired(empty(french))

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return "the French side is empty"

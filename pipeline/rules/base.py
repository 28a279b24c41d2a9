"""The interface every validation rule implements; reads and writes nothing."""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from schema.params import ValidateParams


class Rule:
    """A quality rule over normalised columns.

    `check` is vectorised over a whole batch and returns, per row, the rule's `reason` code where it fires and
    null elsewhere. `explain` says in words why it fired on one row; it only runs on the few rows reported.
    Rules never see the action taken on their result: that is the params' business.
    """

    reason: ClassVar[str]
    # An RE2 pattern that at least one side of every row the rule fires on matches, or None. Validate looks for the
    # patterns of all such rules in one scan of each side and runs them only on the rows it finds: a scan costs
    # about the same whatever the pattern, and most rows match none.
    screen: ClassVar[str | None] = None

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        raise NotImplementedError

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        raise NotImplementedError

    def explain_rows(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> list[str]:
        """`explain` for all the reported rows of a batch; a rule whose explanation needs batch work overrides it."""
        return [self.explain(e, f, params) for e, f in zip(english.to_pylist(), french.to_pylist(), strict=True)]

    def fired(self, mask: pa.Array) -> pa.Array:
        """The reason code where `mask` is true, null where it is false or null."""
        return pc.if_else(pc.fill_null(mask, False), pa.scalar(self.reason), pa.scalar(None, pa.string()))


def lengths(texts: pa.Array) -> pa.Array:
    """Length in code points, 0 for null."""
    return pc.fill_null(pc.utf8_length(texts), 0)


def longer_than(texts: pa.Array, limit: int) -> pa.Array:
    """Whether each text has more than `limit` code points (false for null). A text has no more code points than
    bytes, so only the texts of more than `limit` bytes are counted."""
    long = pc.fill_null(pc.greater(pc.binary_length(texts), limit), False)
    if not pc.any(long).as_py():
        return long
    return pc.replace_with_mask(long, long, pc.greater(pc.utf8_length(pc.filter(texts, long)), limit))


def empty(texts: pa.Array) -> pa.Array:
    """Whether each text is null or has no characters, known from its size in bytes without counting them."""
    return pc.fill_null(pc.equal(pc.binary_length(texts), 0), True)


class LearningRule(Rule):
    """A rule whose judgement is learned from the corpus being validated.

    `learn` sees the pairs of a sample of the input that every other rule keeps, and returns the rule ready to
    `check`; validate learns once, before the batches are checked, so that every batch is judged alike. What it
    learned, in `facts`, goes to the metrics and the card.
    """

    facts: dict[str, Any]

    def prepare(self, rows: int, params: ValidateParams) -> None:
        """Loads what learning from an input of `rows` rows needs, while validate reads the sample; nothing unless
        a rule's machinery is slow to load."""

    def learn(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> LearningRule:
        raise NotImplementedError

    def summary(self) -> str:
        """What it learned, in a line of the stage's summary."""
        raise NotImplementedError

"""What the translation model reads of a text: its words, and the anchors that must appear on both sides of a pair;
reads and writes nothing.

Words are runs of letters, lower-cased. Anchors are the parts of a text that a translation copies rather than
translates: numbers, TeX commands, code spans and URLs. A pair whose sides disagree on them is evidence of a
misalignment that a lexical model alone weighs too lightly, because numbers and commands are rare words.

Only the first `max_chars` characters of a text are read: the opening words of a paragraph say whether it is the
translation of the other side as well as the whole paragraph does, and reading every byte of a large corpus would
cost more than all the other rules together. Both the model and the anchors are bags: the order of the tokens of a
text is not kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Texts are normalised (single spaces), so once elisions and hyphens are spaces most tokens are one split on spaces
# and a trim away; the few tokens that still hold something other than letters or digits ("x_i", "\mathbf{x}") are
# split again on everything but letters, digits and the backslash that starts a TeX command.
_SPACED = ("'", "’", "-")
_TRIMMED = '.,;:!?()[]{}"«»“”*~<>=+–—…$%&#@|`_^/'
_SEPARATORS = r"[^\pL\pN\\]+"
_COMMAND = r"^\\\pL+$"
# Code spans and URLs are found with Python's `re` on the few texts that hold a backtick or a scheme.
_SPANS_SCREEN = r"`|https?://"
_SPANS = re.compile(r"`([^`\n]+)`|(https?://[^\s)>\]}\"'`]+[^\s)>\]}\"'`.,;:!?])")

ANCHOR_KINDS = ("number", "command", "code", "url")


@dataclass(frozen=True)
class Tokens:
    """Tokens of a column of texts, as a bag per text: token `k` is `values[k]`, in text `rows[k]`."""

    values: pa.Array
    rows: np.ndarray
    texts: int

    def where(self, keep: pa.Array | np.ndarray) -> Tokens:
        """The tokens for which `keep` is true."""
        mask = keep if isinstance(keep, np.ndarray) else pc.fill_null(keep, False).to_numpy(zero_copy_only=False)
        return Tokens(self.values.filter(pa.array(mask)), self.rows[mask], self.texts)

    def counts(self) -> np.ndarray:
        """How many tokens each text has."""
        return np.bincount(self.rows, minlength=self.texts)


@dataclass(frozen=True)
class Text:
    """A column of texts as the model reads it."""

    words: Tokens
    anchors: Tokens
    # For each anchor, its index in ANCHOR_KINDS.
    anchor_kinds: np.ndarray


def read(texts: pa.Array, max_chars: int) -> Text:
    """Words and anchors of the first `max_chars` characters of each text (a null text has none)."""
    texts = pc.utf8_slice_codeunits(pc.fill_null(texts, ""), 0, max_chars)
    spaced = pc.utf8_lower(texts)
    for mark in _SPACED:
        spaced = pc.replace_substring(spaced, mark, " ")
    tokens = _tokens(pc.split_pattern(spaced, " "))
    tokens = Tokens(pc.utf8_trim(tokens.values, characters=_TRIMMED), tokens.rows, tokens.texts)
    alpha, digit = pc.utf8_is_alpha(tokens.values), pc.utf8_is_digit(tokens.values)
    compound = tokens.where(pc.invert(pc.or_(alpha, digit)))
    parts = _tokens(
        pc.split_pattern_regex(pc.replace_substring(compound.values, "\\", " \\"), _SEPARATORS),
        compound.rows,
        tokens.texts,
    )
    words = _joined(tokens.where(alpha), parts.where(pc.utf8_is_alpha(parts.values)))
    numbers = _joined(tokens.where(digit), parts.where(pc.utf8_is_digit(parts.values)))
    commands = parts.where(pc.match_substring_regex(parts.values, _COMMAND))
    code, urls = _spans(texts)
    anchors = (numbers, commands, code, urls)
    kinds = np.concatenate([np.full(len(part.rows), kind, np.int8) for kind, part in enumerate(anchors)])
    return Text(words, _joined(*anchors), kinds)


def _tokens(lists: pa.ListArray, rows: np.ndarray | None = None, texts: int | None = None) -> Tokens:
    """The elements of `lists`, each in the text of its list: list i belongs to text `rows[i]` (default i)."""
    lengths = np.diff(lists.offsets.to_numpy())
    owners = np.arange(len(lists)) if rows is None else rows
    values = pc.list_flatten(lists)
    return Tokens(values, np.repeat(owners, lengths), len(lists) if texts is None else texts)


def _joined(*parts: Tokens) -> Tokens:
    """The tokens of all `parts`, in part order."""
    return Tokens(
        pa.concat_arrays([part.values.cast(pa.string()) for part in parts]),
        np.concatenate([part.rows for part in parts]),
        parts[0].texts,
    )


def _spans(texts: pa.Array) -> tuple[Tokens, Tokens]:
    """The code spans and the URLs of each text, as written."""
    code: list[tuple[int, str]] = []
    urls: list[tuple[int, str]] = []
    suspects = pc.indices_nonzero(pc.fill_null(pc.match_substring_regex(texts, _SPANS_SCREEN), False))
    for row, text in zip(suspects.to_pylist(), texts.take(suspects).to_pylist(), strict=True):
        for span, url in _SPANS.findall(text):
            if span.strip():
                code.append((row, " ".join(span.split())))
            if url:
                urls.append((row, url))
    return _listed(code, len(texts)), _listed(urls, len(texts))


def _listed(found: list[tuple[int, str]], texts: int) -> Tokens:
    return Tokens(
        pa.array([value for _, value in found], pa.string()), np.array([row for row, _ in found], np.int64), texts
    )

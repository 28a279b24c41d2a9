"""What the translation model reads of a text: its words, and the anchors that must appear on both sides of a pair;
reads and writes nothing.

Words are runs of letters, lower-cased. Anchors are the parts of a text that a translation copies rather than
translates: numbers, TeX commands, code spans and URLs. A pair whose sides disagree on them is evidence of a
misalignment that a lexical model alone weighs too lightly, because numbers and commands are rare words.

Only the first `max_chars` characters of a text are read: the opening words of a paragraph say whether it is the
translation of the other side as well as the whole paragraph does, and reading every byte of a large corpus would
cost more than all the other rules together. Both the model and the anchors are bags: the order of the tokens of a
text is not kept.

A word is a run of letters and a number a run of digits; a TeX command is a backslash and the letters after it.
Every other character (space, punctuation, the apostrophe of an elision, the hyphen of a compound) separates
tokens, and a run that mixes letters and digits ("x2") is neither word nor number. Code spans (between backticks)
and URLs are anchors as written. The loop that reads them all is compiled (`kernels.scan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa

from pipeline.alignment import kernels

# A word's stem is its first STEM_CHARS letters: words at least this long that begin alike on both sides of a pair
# are taken as cognates ("convolution", "convolutif"), translated whether or not the model knows them.
STEM_CHARS = 5

ANCHOR_KINDS = ("number", "command", "code", "url")
# Numbers and TeX commands are read lower-cased, code spans and URLs as written.
_AS_WRITTEN = (kernels.CODE, kernels.URL)


@dataclass(frozen=True)
class Tokens:
    """Tokens of a column of texts, as a bag per text, in text order: token `k` is in text `rows[k]`, `keys[k]`
    identifies it, and it is spelled by the bytes `data[spans[k, 0]:spans[k, 1]]`, lower-cased where `lowered[k]`.
    Text i's tokens are those from `bounds[i]` to `bounds[i + 1]`."""

    keys: np.ndarray
    rows: np.ndarray
    bounds: np.ndarray
    spans: np.ndarray
    data: np.ndarray
    lowered: np.ndarray

    @property
    def texts(self) -> int:
        return len(self.bounds) - 1

    def counts(self) -> np.ndarray:
        """How many tokens each text has."""
        return np.diff(self.bounds)

    def spelled(self, at: np.ndarray) -> list[str]:
        """The tokens at positions `at`, as read."""
        spelled = []
        for (start, end), lowered in zip(self.spans[at].tolist(), self.lowered[at].tolist(), strict=True):
            text = self.data[start:end].tobytes().decode("utf-8")
            spelled.append(text.lower() if lowered else text)
        return spelled

    @property
    def values(self) -> pa.Array:
        """Every token, as read."""
        return pa.array(self.spelled(np.arange(len(self.keys))), pa.string())


@dataclass(frozen=True)
class Text:
    """A column of texts as the model reads it: its UTF-8 bytes (text i is `data[starts[i]:ends[i]]`), its words,
    and its anchors."""

    data: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    words: Tokens
    # For each word, the key of its first STEM_CHARS letters, 0 for a shorter word.
    stems: np.ndarray
    anchors: Tokens
    # For each anchor, its index in ANCHOR_KINDS.
    anchor_kinds: np.ndarray


def read(texts: pa.Array, max_chars: int, spell_words: bool = True) -> Text:
    """Words and anchors of the first `max_chars` characters of each text (a null text has none); the words can be
    spelled only if `spell_words`, which explaining a pair's anchors, needing only their keys, does without."""
    data, starts, ends = buffers(texts)
    words, word_bounds, anchors, anchor_bounds = kernels.scan(
        data, starts, ends, max_chars, STEM_CHARS, spell_words, *unicode_tables()
    )
    word_rows, word_keys, stems, word_spans = words
    anchor_rows, anchor_kinds, anchor_keys, anchor_spans = anchors
    return Text(
        data,
        starts,
        ends,
        Tokens(word_keys, word_rows, word_bounds, word_spans, data, np.ones(len(word_keys), bool)),
        stems,
        Tokens(anchor_keys, anchor_rows, anchor_bounds, anchor_spans, data, ~np.isin(anchor_kinds, _AS_WRITTEN)),
        anchor_kinds,
    )


@cache
def unicode_tables() -> tuple[np.ndarray, np.ndarray]:
    """Each character's class and lower-case form (`kernels.unicode_tables`), made once per process."""
    return kernels.unicode_tables()


def buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a column of texts and where each text starts and ends in them (a null text is empty)."""
    if not pa.types.is_large_string(texts.type):
        texts = texts.cast(pa.string())
    validity, offsets, data = texts.buffers()
    width = np.dtype(np.int64 if pa.types.is_large_string(texts.type) else np.int32)
    offsets = np.frombuffer(offsets, width, count=len(texts) + 1, offset=texts.offset * width.itemsize).astype(np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    if validity is not None and texts.null_count:
        ends = np.where(texts.is_valid().to_numpy(zero_copy_only=False), ends, starts)
    return (np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)), starts, ends

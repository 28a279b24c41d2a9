"""The compiled loops behind the misaligned rule: reading the tokens of a column of texts, looking words up, and the
per-pair sums of the scorer; reads and writes nothing.

Each of these walks every character or token of a batch once and keeps state from one to the next (the token being
read, the words of the pair being scored), which Arrow's and NumPy's whole-array operations can only do in many
passes with a temporary array each. Compiled by Numba on first use and cached beside this file, so that a process
that finds the cache loads them rather than compiling them again.

Tokens are identified by a 64-bit FNV-1a hash of their lower-cased characters; at the sizes of a vocabulary, two
words sharing a hash is as unlikely as a memory error.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

# Character classes of the Basic Multilingual Plane; characters beyond it are separators.
OTHER, LETTER, DIGIT, BACKSLASH = 0, 1, 2, 3
_PLANE = 0x10000
# Anchor kinds, in the order of `tokens.ANCHOR_KINDS`.
NUMBER, COMMAND, CODE, URL = 0, 1, 2, 3
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_BACKTICK, _NEWLINE, _H, _S, _COLON, _SLASH = (ord(mark) for mark in "`\nhs:/")
_HTTP = tuple(ord(mark) for mark in "http")
# What ends a URL, besides white space; and the punctuation that ends a sentence rather than the URL before it.
_URL_STOPS = tuple(ord(mark) for mark in ")>]}\"'`")
_URL_TRAILING = tuple(ord(mark) for mark in ".,;:!?")
# A sum of logs is taken as the log of products of this many ratios, a log costing more than many products: each
# ratio lies between the floor over the largest background and 1 over the smallest, so such a product stays far
# within a float's range.
_FACTORS_PER_LOG = 32


def unicode_tables() -> tuple[np.ndarray, np.ndarray]:
    """Each character's class and its lower-case form (itself where that is more than one character), by code
    point, as Arrow's Unicode functions see them."""
    points = np.arange(_PLANE)
    points[0xD800:0xE000] = 0x20
    characters = pa.array([chr(point) for point in points.tolist()], pa.string())
    classes = np.full(_PLANE, OTHER, np.uint8)
    classes[pc.utf8_is_alpha(characters).to_numpy(zero_copy_only=False)] = LETTER
    classes[pc.utf8_is_digit(characters).to_numpy(zero_copy_only=False)] = DIGIT
    classes[ord("\\")] = BACKSLASH
    lowered = pc.utf8_lower(characters)
    single = pc.equal(pc.utf8_length(lowered), 1).to_numpy(zero_copy_only=False)
    lower = points.astype(np.uint32)
    lower[single] = [ord(character) for character in np.asarray(lowered.to_pylist(), dtype=object)[single]]
    return classes, lower


@njit(cache=True, nogil=True)
def _decode(data: np.ndarray, at: int) -> tuple[int, int]:
    """The code point that starts at byte `at` of valid UTF-8, and its width in bytes."""
    first = np.int64(data[at])
    if first < 0x80:
        return first, 1
    if first < 0xE0:
        return ((first & 0x1F) << 6) | (np.int64(data[at + 1]) & 0x3F), 2
    if first < 0xF0:
        return ((first & 0x0F) << 12) | ((np.int64(data[at + 1]) & 0x3F) << 6) | (np.int64(data[at + 2]) & 0x3F), 3
    return (
        ((first & 0x07) << 18)
        | ((np.int64(data[at + 1]) & 0x3F) << 12)
        | ((np.int64(data[at + 2]) & 0x3F) << 6)
        | (np.int64(data[at + 3]) & 0x3F),
        4,
    )


@njit(cache=True, nogil=True)
def _mix(key: np.uint64, point: int) -> np.uint64:
    return (key ^ np.uint64(point)) * _FNV_PRIME


@njit(cache=True, nogil=True)
def _width(first: int) -> int:
    """The width in bytes of the UTF-8 character whose first byte is `first`."""
    return 1 if first < 0x80 else 2 if first < 0xE0 else 3 if first < 0xF0 else 4


@njit(cache=True, nogil=True)
def _cut(data: np.ndarray, at: int, chars: int, stop: int, max_chars: int) -> int:
    """Where the first `max_chars` characters of a text ending at `stop` end, from its character `chars` at `at`."""
    while at < stop and chars < max_chars:
        at += _width(data[at])
        chars += 1
    return at


@njit(cache=True, nogil=True)
def _space(point: int) -> bool:
    """Whether a character is white space, as Python's `str.isspace` has it."""
    return (
        point == 32
        or 9 <= point <= 13
        or 28 <= point <= 31
        or point in (0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
        or 0x2000 <= point <= 0x200A
    )


@njit(cache=True, nogil=True)
def _code_span(data: np.ndarray, at: int, limit: int) -> tuple[int, int, int]:
    """The code span opened by the backtick at `at`: where it ends (past its closing backtick, on the same line and
    before `limit`) and where its content, spaces around it left out, starts and ends; -1 where there is none."""
    close = at + 1
    while close < limit and data[close] != _BACKTICK and data[close] != _NEWLINE:
        close += 1
    if close >= limit or data[close] != _BACKTICK or close == at + 1:
        return -1, 0, 0
    start, end = at + 1, close
    while start < end and _space(data[start]):
        start += 1
    while end > start and _space(data[end - 1]):
        end -= 1
    return close + 1, start, end


@njit(cache=True, nogil=True)
def _http(data: np.ndarray, at: int, stop: int) -> bool:
    """Whether "http" starts at `at`, before `stop`."""
    if at + 4 > stop:
        return False
    for offset in range(4):
        if data[at + offset] != _HTTP[offset]:
            return False
    return True


@njit(cache=True, nogil=True)
def _url(data: np.ndarray, at: int, limit: int) -> int:
    """Where the URL that starts at `at` ends, -1 where none does: "http://" or "https://", then the characters up to
    a space or a closing mark (and before `limit`), less the punctuation that ends it, two at least."""
    if not _http(data, at, limit):
        return -1
    after = at + 4
    if after < limit and data[after] == _S:
        after += 1
    if after + 3 > limit or data[after] != _COLON or data[after + 1] != _SLASH or data[after + 2] != _SLASH:
        return -1
    after += 3
    end = after
    while end < limit:
        point, width = _decode(data, end)
        if _space(point) or point in _URL_STOPS:
            break
        end += width
    while end > after and data[end - 1] in _URL_TRAILING:
        end -= 1
    last = end - 1
    while last > after and data[last] & 0xC0 == 0x80:
        last -= 1
    return end if last > after else -1


@njit(cache=True, nogil=True)
def _bytes_key(data: np.ndarray, start: int, end: int) -> np.uint64:
    key = _FNV_OFFSET
    for at in range(start, end):
        key = _mix(key, data[at])
    return key


@njit(cache=True, nogil=True)
def scan(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    max_chars: int,
    stem_chars: int,
    spell_words: bool,
    classes: np.ndarray,
    lower: np.ndarray,
):
    """The tokens of the first `max_chars` characters of each text (text i is `data[starts[i]:ends[i]]`), in
    text order: the words as (text, key, stem, span) and the anchors as (text, kind, key, span), a span being the
    token's bytes `start:end` in `data` (words have spans only if `spell_words`, as scoring needs none), each with
    where each text's tokens start (`bounds`, one more than the texts).

    A word or number is a run of letters and digits, and a TeX command a backslash and such a run; every other
    character separates them. Their key hashes their lower-cased characters; a word's stem hashes its first
    `stem_chars` (0 for shorter words). Code spans (between backticks, on one line) and URLs are read as written;
    their key hashes their bytes, and the words and numbers within them are read as well."""
    texts = len(starts)
    # A word and the separator after it take at least two characters; an anchor can take one.
    chars_read = 0
    for text in range(texts):
        chars_read += min(ends[text] - starts[text], max_chars)
    words_bound, anchors_bound = chars_read // 2 + texts, chars_read + texts
    # Only the memory written to is touched: the first touch of a page costs more than the writes to it.
    word_rows, word_keys = np.empty(words_bound, np.int32), np.empty(words_bound, np.uint64)
    word_stems, word_spans = (
        np.empty(words_bound, np.uint64),
        np.empty((words_bound if spell_words else 0, 2), np.int64),
    )
    anchor_rows, anchor_kinds = np.empty(anchors_bound, np.int32), np.empty(anchors_bound, np.int8)
    anchor_keys, anchor_spans = np.empty(anchors_bound, np.uint64), np.empty((anchors_bound, 2), np.int64)
    word_bounds, anchor_bounds = np.empty(texts + 1, np.int64), np.empty(texts + 1, np.int64)
    words = anchors = 0
    for text in range(texts):
        word_bounds[text], anchor_bounds[text] = words, anchors
        at, stop, chars = starts[text], ends[text], 0
        start, backslash, letters, digits, key, stem = -1, False, 0, 0, _FNV_OFFSET, _FNV_OFFSET
        limit, quoted_until = -1, at
        while True:
            # Past the last character read comes a separator, which ends the last token.
            reading = at < stop and chars < max_chars
            point, width = _decode(data, at) if reading else (0, 0)
            if (point == _BACKTICK or (point == _H and _http(data, at, stop))) and at >= quoted_until:
                if limit < 0:
                    limit = _cut(data, at, chars, stop, max_chars)
                if point == _BACKTICK:
                    end, quote_start, quote_end = _code_span(data, at, limit)
                    kind = CODE
                else:
                    end = _url(data, at, limit)
                    quote_start, quote_end, kind = at, end, URL
                if end >= 0:
                    quoted_until = end
                    if quote_end > quote_start:
                        anchor_rows[anchors], anchor_kinds[anchors] = text, kind
                        anchor_keys[anchors] = _bytes_key(data, quote_start, quote_end)
                        anchor_spans[anchors, 0], anchor_spans[anchors, 1] = quote_start, quote_end
                        anchors += 1
            kind = classes[point] if point < _PLANE else OTHER
            if kind == LETTER or kind == DIGIT:
                if start < 0:
                    start, backslash, letters, digits, key = at, False, 0, 0, _FNV_OFFSET
                key = _mix(key, lower[point])
                letters += kind == LETTER
                digits += kind == DIGIT
                if letters + digits == stem_chars:
                    stem = key
            else:
                if start >= 0:
                    if not backslash and digits == 0:
                        word_rows[words], word_keys[words] = text, key
                        word_stems[words] = stem if letters >= stem_chars else np.uint64(0)
                        if spell_words:
                            word_spans[words, 0], word_spans[words, 1] = start, at
                        words += 1
                    elif (backslash and letters and not digits) or (not backslash and not letters):
                        anchor_rows[anchors], anchor_keys[anchors] = text, key
                        anchor_kinds[anchors] = COMMAND if backslash else NUMBER
                        anchor_spans[anchors, 0], anchor_spans[anchors, 1] = start, at
                        anchors += 1
                    start = -1
                if kind == BACKSLASH:
                    start, backslash, letters, digits, key = at, True, 0, 0, _mix(_FNV_OFFSET, point)
            if not reading:
                break
            at += width
            chars += 1
    word_bounds[texts], anchor_bounds[texts] = words, anchors
    return (
        (word_rows[:words], word_keys[:words], word_stems[:words], word_spans[: words if spell_words else 0]),
        word_bounds,
        (anchor_rows[:anchors], anchor_kinds[:anchors], anchor_keys[:anchors], anchor_spans[:anchors]),
        anchor_bounds,
    )


@njit(cache=True, nogil=True)
def index(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An open-addressing table of `keys` (distinct): the id of `keys[i]` is `i`."""
    capacity = 2
    while capacity < 2 * len(keys):
        capacity *= 2
    slots = np.zeros(capacity, np.uint64)
    ids = np.full(capacity, -1, np.int64)
    mask = np.uint64(capacity - 1)
    for i in range(len(keys)):
        slot = (keys[i] ^ (keys[i] >> np.uint64(32))) & mask
        while ids[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        slots[slot], ids[slot] = keys[i], i
    return slots, ids


@njit(cache=True, nogil=True)
def look_up(slots: np.ndarray, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The id of each of `keys` in the table (`index`), -1 where it is not there."""
    mask = np.uint64(len(slots) - 1)
    found = np.full(len(keys), -1, np.int64)
    for i in range(len(keys)):
        slot = (keys[i] ^ (keys[i] >> np.uint64(32))) & mask
        while ids[slot] >= 0:
            if slots[slot] == keys[i]:
                found[i] = ids[slot]
                break
            slot = (slot + np.uint64(1)) & mask
    return found


@njit(cache=True, nogil=True)
def explained(
    source_ids: np.ndarray,
    source_bounds: np.ndarray,
    target_ids: np.ndarray,
    target_bounds: np.ndarray,
    cognates: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    null: np.ndarray,
    background: np.ndarray,
    unseen: float,
    floor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per text, the sum of log(p(f | source text) / background(f)) over its target words f that the model knows or
    that have a cognate on the source side, and their number: p(f | e) = (Σ_i t(f | e_i) + t(f | NULL)) / (|e| + 1)
    over the known source words e_i, at least 1 / (|e| + 1) for a cognate, at least `floor`. Text i's words are
    `ids[bounds[i]:bounds[i + 1]]` (-1 for an unknown word), t a CSR matrix (`indptr`, `indices`, `values`) by
    source word, `background` that of each known target word and `unseen` that of the others."""
    texts = len(source_bounds) - 1
    logs, counts = np.zeros(texts), np.zeros(texts)
    sums = np.zeros(len(null))
    for text in range(texts):
        known, product, factors = 0, 1.0, 0
        for at in range(source_bounds[text], source_bounds[text + 1]):
            word = source_ids[at]
            if word >= 0:
                known += 1
                for entry in range(indptr[word], indptr[word + 1]):
                    sums[indices[entry]] += values[entry]
        for at in range(target_bounds[text], target_bounds[text + 1]):
            word = target_ids[at]
            if word >= 0:
                probability, expected = (sums[word] + null[word]) / (known + 1), background[word]
            elif cognates[at]:
                probability, expected = 0.0, unseen
            else:
                continue
            if cognates[at]:
                probability = max(probability, 1 / (known + 1))
            product *= max(probability, floor) / expected
            counts[text] += 1
            factors += 1
            if factors == _FACTORS_PER_LOG:
                logs[text] += np.log(product)
                product, factors = 1.0, 0
        logs[text] += np.log(product)
        for at in range(source_bounds[text], source_bounds[text + 1]):
            word = source_ids[at]
            if word >= 0:
                for entry in range(indptr[word], indptr[word + 1]):
                    sums[indices[entry]] = 0.0
    return logs, counts


@njit(cache=True, nogil=True)
def expectation(
    pair: np.ndarray,
    source_at: np.ndarray,
    target_at: np.ndarray,
    t: np.ndarray,
    source_count: np.ndarray,
    target_count: np.ndarray,
    totals: np.ndarray,
    counts: np.ndarray,
) -> None:
    """One expectation step of Model 1 over instances of whole pairs, added to `counts`: instance k holds the word
    pair `pair[k]` (whose t is `t[pair[k]]`) and the type occurrences `source_at[k]` and `target_at[k]`, which occur
    `source_count` and `target_count` times in their text; each target occurrence shares its count among the source
    words of its pair in proportion to t. `totals` is scratch space, one number per target occurrence."""
    for k in range(len(pair)):
        totals[target_at[k]] = 0.0
    for k in range(len(pair)):
        totals[target_at[k]] += t[pair[k]] * source_count[source_at[k]]
    for k in range(len(pair)):
        total = totals[target_at[k]]
        if total > 0:
            counts[pair[k]] += t[pair[k]] * source_count[source_at[k]] * target_count[target_at[k]] / total


@njit(cache=True, nogil=True)
def _flag_shared(
    ours: np.ndarray,
    start: int,
    end: int,
    theirs: np.ndarray,
    their_start: int,
    their_end: int,
    found: np.ndarray,
    slots: np.ndarray,
) -> None:
    """Flags in `found` each of `ours[start:end]` that `theirs[their_start:their_end]` holds (keys 0 never), through
    a small open-addressing set of theirs in `slots` (zeros, left as they were): a pair's words are too many to
    compare each with each."""
    capacity = 8
    while capacity < 2 * (their_end - their_start):
        capacity *= 2
    mask = np.uint64(capacity - 1)
    for at in range(their_start, their_end):
        key = theirs[at]
        if key == 0:
            continue
        slot = key & mask
        while slots[slot] != 0 and slots[slot] != key:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = key
    for at in range(start, end):
        key = ours[at]
        if key == 0:
            continue
        slot = key & mask
        while slots[slot] != 0:
            if slots[slot] == key:
                found[at] = True
                break
            slot = (slot + np.uint64(1)) & mask
    slots[:capacity] = 0


@njit(cache=True, nogil=True)
def shared(
    english: np.ndarray, english_bounds: np.ndarray, french: np.ndarray, french_bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each key of either side (by text: text i's English keys are `english[english_bounds[i]:english_bounds[i +
    1]]`), whether the other side of its pair has it too; a key 0 is never shared."""
    english_found, french_found = np.zeros(len(english), np.bool_), np.zeros(len(french), np.bool_)
    most = 0
    for text in range(len(english_bounds) - 1):
        most = max(most, english_bounds[text + 1] - english_bounds[text], french_bounds[text + 1] - french_bounds[text])
    slots = np.zeros(max(8, 4 * most), np.uint64)
    for text in range(len(english_bounds) - 1):
        english_start, english_end = english_bounds[text], english_bounds[text + 1]
        french_start, french_end = french_bounds[text], french_bounds[text + 1]
        _flag_shared(english, english_start, english_end, french, french_start, french_end, english_found, slots)
        _flag_shared(french, french_start, french_end, english, english_start, english_end, french_found, slots)
    return english_found, french_found


@njit(cache=True, nogil=True)
def _holds(
    data: np.ndarray, start: int, end: int, needle: np.ndarray, needle_start: int, needle_end: int, lower: np.ndarray
) -> bool:
    """Whether `data[start:end]` holds the characters of `needle[needle_start:needle_end]`, both lower-cased."""
    at = start
    while at < end:
        here, there = at, needle_start
        while there < needle_end and here < end:
            point, width = _decode(data, here)
            wanted, wanted_width = _decode(needle, there)
            if (lower[point] if point < _PLANE else point) != (lower[wanted] if wanted < _PLANE else wanted):
                break
            here, there = here + width, there + wanted_width
        if there == needle_end:
            return True
        at += _width(data[at])
    return False


@njit(cache=True, nogil=True)
def matched(
    keys: np.ndarray,
    bounds: np.ndarray,
    spans: np.ndarray,
    data: np.ndarray,
    their_keys: np.ndarray,
    their_bounds: np.ndarray,
    their_data: np.ndarray,
    their_starts: np.ndarray,
    their_ends: np.ndarray,
    lower: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each anchor of one side (keys by text, as for `shared`, spelled by `data[spans[k, 0]:spans[k, 1]]`),
    whether it is the first of its key in its text, and whether the other side of its pair has it: among that
    side's anchors, or else anywhere in its whole text (`their_data[their_starts[i]:their_ends[i]]`),
    lower-cased, as anchors do not sit at the same place on both sides and the cut may halve one."""
    first = np.ones(len(keys), np.bool_)
    found = np.zeros(len(keys), np.bool_)
    for text in range(len(bounds) - 1):
        for at in range(bounds[text], bounds[text + 1]):
            for before in range(bounds[text], at):
                if keys[before] == keys[at]:
                    first[at] = False
                    break
            if not first[at]:
                continue
            for other in range(their_bounds[text], their_bounds[text + 1]):
                if their_keys[other] == keys[at]:
                    found[at] = True
                    break
            if not found[at]:
                found[at] = _holds(
                    their_data, their_starts[text], their_ends[text], data, spans[at, 0], spans[at, 1], lower
                )
    return first, found

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
# An odd multiplier that spreads consecutive keys over a table's slots.
_SPREAD = 0x5851F42D4C957F2D
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
    # Indexed by an unsigned position, as a signed one costs a check for a negative index at every byte.
    at = np.uint64(at)
    first = np.int64(data[at])
    if first < 0x80:
        return first, 1
    second = np.int64(data[at + np.uint64(1)]) & 0x3F
    if first < 0xE0:
        return ((first & 0x1F) << 6) | second, 2
    third = np.int64(data[at + np.uint64(2)]) & 0x3F
    if first < 0xF0:
        return ((first & 0x0F) << 12) | (second << 6) | third, 3
    return ((first & 0x07) << 18) | (second << 12) | (third << 6) | (np.int64(data[at + np.uint64(3)]) & 0x3F), 4


@njit(cache=True, nogil=True)
def _mix(key: np.uint64, point: int) -> np.uint64:
    return (key ^ np.uint64(point)) * _FNV_PRIME


@njit(cache=True, nogil=True)
def _width(first: int) -> int:
    """The width in bytes of the UTF-8 character whose first byte is `first`."""
    return 1 if first < 0x80 else 2 if first < 0xE0 else 3 if first < 0xF0 else 4


@njit(cache=True, nogil=True)
def _cut(data: np.ndarray, at: int, stop: int, max_chars: int) -> int:
    """Where the first `max_chars` characters of the text `data[at:stop]` end."""
    # The characters that start in the first `max_chars` bytes, counted in a loop without branches, then the rest one
    # by one.
    end = min(at + max_chars, stop)
    chars = 0
    for byte in data[at:end]:
        chars += (byte & 0xC0) != 0x80
    while end < stop and data[end] & 0xC0 == 0x80:
        end += 1
    while end < stop and chars < max_chars:
        end += _width(data[end])
        chars += 1
    return end


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
    text order (`_read`): the words as (text, key, stem, span) and the anchors as (text, kind, key, span), a span
    being the token's bytes `start:end` in `data` (words have spans only if `spell_words`, as scoring needs none),
    each with where each text's tokens start (`bounds`, one more than the texts)."""
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
        words, anchors = _read(
            data,
            starts[text],
            ends[text],
            max_chars,
            stem_chars,
            classes,
            lower,
            (word_keys, word_stems, word_spans),
            words,
            (anchor_kinds, anchor_keys, anchor_spans),
            anchors,
        )
        word_rows[word_bounds[text] : words] = text
        anchor_rows[anchor_bounds[text] : anchors] = text
    word_bounds[texts], anchor_bounds[texts] = words, anchors
    return (
        (word_rows[:words], word_keys[:words], word_stems[:words], word_spans[: words if spell_words else 0]),
        word_bounds,
        (anchor_rows[:anchors], anchor_kinds[:anchors], anchor_keys[:anchors], anchor_spans[:anchors]),
        anchor_bounds,
    )


@njit(cache=True, nogil=True)
def _read(
    data: np.ndarray,
    at: int,
    stop: int,
    max_chars: int,
    stem_chars: int,
    classes: np.ndarray,
    lower: np.ndarray,
    word_out,
    words: int,
    anchor_out,
    anchors: int,
) -> tuple[int, int]:
    """Writes the tokens of the first `max_chars` characters of the text `data[at:stop]` to `word_out` (keys, stems,
    spans: spans only where that array has rows) from position `words`, and to `anchor_out` (kinds, keys, spans)
    from position `anchors`; returns the positions after the last of each. A text has at most `max_chars // 2 + 1`
    words and `max_chars + 1` anchors.

    A word or number is a run of letters and digits, and a TeX command a backslash and such a run; every other
    character separates them. Their key hashes their lower-cased characters; a word's stem hashes its first
    `stem_chars` (0 for shorter words). Code spans (between backticks, on one line) and URLs are read as written;
    their key hashes their bytes, and the words and numbers within them are read as well."""
    word_keys, word_stems, word_spans = word_out
    spell_words = len(word_spans) > 0
    cut = _cut(data, at, stop, max_chars)
    quoted_until = at
    while at < cut:
        point, width = _decode(data, at)
        kind = classes[point] if point < _PLANE else OTHER
        if point == _BACKTICK and at >= quoted_until:
            end, quote_start, quote_end = _code_span(data, at, cut)
            if end >= 0:
                quoted_until = end
                anchors = _quoted(data, quote_start, quote_end, CODE, anchor_out, anchors)
        if kind == OTHER:
            at += width
            continue
        # A token: a backslash or a letter or digit, then the letters and digits up to the next other character.
        start, backslash, key, stem, length, seen = at, kind == BACKSLASH, _FNV_OFFSET, np.uint64(0), 0, OTHER
        if backslash:
            key = _mix(key, point)
            at += width
        while at < cut:
            point, width = _decode(data, at)
            kind = classes[point] if point < _PLANE else OTHER
            if kind != LETTER and kind != DIGIT:
                break
            if point == _H and at >= quoted_until:
                end = _url(data, at, cut)
                if end >= 0:
                    quoted_until = end
                    anchors = _quoted(data, at, end, URL, anchor_out, anchors)
            key = _mix(key, lower[point])
            # The classes are bits: `seen` says whether the token has letters, digits or both.
            seen |= kind
            length += 1
            if length == stem_chars:
                stem = key
            at += width
        letters, digits = seen & LETTER, seen & DIGIT
        if not backslash and not digits:
            word_keys[words] = key
            word_stems[words] = stem if length >= stem_chars else np.uint64(0)
            if spell_words:
                word_spans[words, 0], word_spans[words, 1] = start, at
            words += 1
        elif (backslash and letters and not digits) or (not backslash and not letters):
            anchors = _token_anchor(key, COMMAND if backslash else NUMBER, start, at, anchor_out, anchors)
    return words, anchors


@njit(cache=True, nogil=True)
def _quoted(data: np.ndarray, start: int, end: int, kind: int, anchor_out, anchors: int) -> int:
    """Writes the code span or URL `data[start:end]` as anchor `anchors` (none if it is empty); returns the next."""
    if end <= start:
        return anchors
    return _token_anchor(_bytes_key(data, start, end), kind, start, end, anchor_out, anchors)


@njit(cache=True, nogil=True)
def _token_anchor(key: np.uint64, kind: int, start: int, end: int, anchor_out, anchors: int) -> int:
    anchor_kinds, anchor_keys, anchor_spans = anchor_out
    anchor_kinds[anchors], anchor_keys[anchors] = kind, key
    anchor_spans[anchors, 0], anchor_spans[anchors, 1] = start, end
    return anchors + 1


@njit(cache=True, nogil=True)
def index(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An open-addressing table of `keys` (distinct): the id of `keys[i]` is `i`."""
    capacity = 2
    while capacity < 2 * len(keys):
        capacity *= 2
    slots = np.zeros(capacity, np.uint64)
    # Ids of 32 bits: the scorer reads the table at random for every word, and fewer bytes are fewer cache misses.
    ids = np.full(capacity, -1, np.int32)
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
    found = np.empty(len(keys), np.int64)
    for i in range(len(keys)):
        found[i] = _id_of(slots, ids, keys[i])
    return found


@njit(cache=True, nogil=True)
def _id_of(slots: np.ndarray, ids: np.ndarray, key: np.uint64) -> int:
    mask = np.uint64(len(slots) - 1)
    slot = (key ^ (key >> np.uint64(32))) & mask
    while ids[slot] >= 0:
        if slots[slot] == key:
            return ids[slot]
        slot = (slot + np.uint64(1)) & mask
    return -1


@njit(cache=True, nogil=True)
def _explained(
    source_ids: np.ndarray,
    sources: int,
    target_ids: np.ndarray,
    targets: int,
    cognates: np.ndarray,
    table,
    floor: float,
    sums: np.ndarray,
) -> tuple[float, int]:
    """For one pair, the sum of log(p(f | source text) / background(f)) over its target words f that the model
    knows or that have a cognate on the source side, and their number: p(f | e) = (Σ_i t(f | e_i) + t(f | NULL)) /
    (|e| + 1) over the known source words e_i, at least 1 / (|e| + 1) for a cognate, at least `floor`. The words
    are `source_ids[:sources]` and `target_ids[:targets]` (-1 for an unknown word); `table` is t as a sparse matrix
    by source word (`starts`, `translations`, `probabilities`), NULL's row, the background of each known target word
    and that of the others (`model1.Table`). `sums` is scratch space, one number per target word."""
    starts, translations, probabilities, null, background, unseen = table
    known, product, factors, logs, count = 0, 1.0, 0, 0.0, 0
    # Only the target words' sums are read, so only theirs are cleared: clearing every entry the source words add to
    # would cost another pass over their rows. Words and entries index as unsigned numbers, as in `_decode`.
    for at in range(targets):
        word = target_ids[at]
        if word >= 0:
            sums[np.uint64(word)] = 0.0
    for at in range(sources):
        word = source_ids[at]
        if word >= 0:
            known += 1
            source = np.uint64(word)
            for entry in range(np.uint64(starts[source]), np.uint64(starts[source + np.uint64(1)])):
                sums[np.uint64(translations[entry])] += probabilities[entry]
    for at in range(targets):
        word = target_ids[at]
        if word >= 0:
            target = np.uint64(word)
            probability, expected = (sums[target] + null[target]) / (known + 1), background[target]
        elif cognates[at]:
            probability, expected = 0.0, unseen
        else:
            continue
        if cognates[at]:
            probability = max(probability, 1 / (known + 1))
        product *= max(probability, floor) / expected
        count += 1
        factors += 1
        if factors == _FACTORS_PER_LOG:
            logs += np.log(product)
            product, factors = 1.0, 0
    return logs + np.log(product), count


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
def _cognates(
    english: np.ndarray,
    english_count: int,
    french: np.ndarray,
    french_count: int,
    english_found: np.ndarray,
    french_found: np.ndarray,
    slots: np.ndarray,
    sides: np.ndarray,
    at_slot: np.ndarray,
) -> None:
    """Sets `english_found[k]` for each of the stems `english[:english_count]`: whether the French stems hold it too
    (a stem 0 never), and `french_found` likewise. Both sides' stems go into one small open-addressing table
    (`slots`, with the sides each stem was seen on as bits in `sides`; zeros, left as they were), and each word then
    reads its slot: a pair's words are too many to compare each with each."""
    capacity = 8
    while capacity < 2 * (english_count + french_count):
        capacity *= 2
    mask = np.uint64(capacity - 1)
    for at in range(english_count + french_count):
        key = english[at] if at < english_count else french[at - english_count]
        if key == 0:
            at_slot[at] = -1
            continue
        slot = key & mask
        while slots[slot] != 0 and slots[slot] != key:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = key
        sides[slot] |= 1 if at < english_count else 2
        at_slot[at] = slot
    for at in range(english_count + french_count):
        slot = at_slot[at]
        if at < english_count:
            english_found[at] = slot >= 0 and sides[slot] & 2 != 0
        else:
            french_found[at - english_count] = slot >= 0 and sides[slot] & 1 != 0
    slots[:capacity] = 0
    sides[:capacity] = 0


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
    """For each anchor of one side (keys by text: text i's are `keys[bounds[i]:bounds[i + 1]]`, spelled by
    `data[spans[k, 0]:spans[k, 1]]`), whether it is the first of its key in its text, and whether the other side
    of its pair has it (`_match`)."""
    first = np.zeros(len(keys), np.bool_)
    found = np.zeros(len(keys), np.bool_)
    for text in range(len(bounds) - 1):
        for at in range(bounds[text], bounds[text + 1]):
            first[at], found[at] = _match(
                keys,
                bounds[text],
                at,
                spans,
                data,
                their_keys[their_bounds[text] : their_bounds[text + 1]],
                their_data[their_starts[text] : their_ends[text]],
                lower,
            )
    return first, found


@njit(cache=True, nogil=True)
def _match(
    keys: np.ndarray,
    start: int,
    at: int,
    spans: np.ndarray,
    data: np.ndarray,
    their_keys: np.ndarray,
    their_text: np.ndarray,
    lower: np.ndarray,
) -> tuple[bool, bool]:
    """Whether anchor `at` of a text (whose anchors start at `start`) is the first of its key in it, and if so
    whether the other side has it: among its anchors (`their_keys`), or else anywhere in its whole text
    (`their_text`, lower-cased), as anchors do not sit at the same place on both sides and the cut may halve one."""
    for before in range(start, at):
        if keys[before] == keys[at]:
            return False, False
    for other in range(len(their_keys)):
        if their_keys[other] == keys[at]:
            return True, True
    return True, _holds(their_text, 0, len(their_text), data, spans[at, 0], spans[at, 1], lower)


@njit(cache=True, nogil=True)
def _anchor_counts(
    keys: np.ndarray,
    spans: np.ndarray,
    count: int,
    data: np.ndarray,
    their_keys: np.ndarray,
    their_text: np.ndarray,
    lower: np.ndarray,
) -> tuple[int, int]:
    """Of the distinct anchors `keys[:count]` of one side, how many the other side has (`_match`), and how many not."""
    shared = only = 0
    for at in range(count):
        first, found = _match(keys, 0, at, spans, data, their_keys, their_text, lower)
        shared += first and found
        only += first and not found
    return shared, only


@njit(cache=True, nogil=True)
def _text_space(max_chars: int):
    """Room for the tokens of one text of at most `max_chars` characters (`_read`): words (keys, stems, no spans) and
    anchors (kinds, keys, spans), and for each word its id and whether it has a cognate."""
    words, anchors = max_chars // 2 + 1, max_chars + 1
    return (
        (np.empty(words, np.uint64), np.empty(words, np.uint64), np.empty((0, 2), np.int64)),
        (np.empty(anchors, np.int8), np.empty(anchors, np.uint64), np.empty((anchors, 2), np.int64)),
        np.empty(words, np.int64),
        np.empty(words, np.bool_),
    )


@njit(cache=True, nogil=True)
def pair_sums(
    english: tuple[np.ndarray, np.ndarray, np.ndarray],
    french: tuple[np.ndarray, np.ndarray, np.ndarray],
    rows: np.ndarray,
    max_chars: int,
    stem_chars: int,
    classes: np.ndarray,
    lower: np.ndarray,
    english_vocabulary: tuple[np.ndarray, np.ndarray],
    french_vocabulary: tuple[np.ndarray, np.ndarray],
    forward,
    backward,
    floor: float,
) -> np.ndarray:
    """The sums the scorer makes of each pair at `rows`, text i of a side being `data[starts[i]:ends[i]]` of its
    `(data, starts, ends)`. Each text is read once (`_read`) into room that the next pair reuses, and nothing of it
    is kept: the sums are rows of one number per pair,

        0, 1  the French words explained by the English side through `forward` (`_explained`): log sum, number;
        2, 3  the English words explained by the French side through `backward`: log sum, number;
        4, 5  the distinct English anchors that the French side has, and those it has not (`_anchor_counts`);
        6, 7  the distinct French anchors that the English side has, and those it has not;

    words being looked up in each side's vocabulary (`(slots, ids)` of `index`) and cognates found by stem."""
    sums = np.empty((8, len(rows)))
    english_words, english_anchors, english_ids, english_cognates = _text_space(max_chars)
    french_words, french_anchors, french_ids, french_cognates = _text_space(max_chars)
    english_scratch, french_scratch = np.zeros(len(backward[3])), np.zeros(len(forward[3]))
    # Room for a table of the stems of both sides, at most half full.
    slots, sides = np.zeros(8 * len(english_ids), np.uint64), np.zeros(8 * len(english_ids), np.uint8)
    at_slot = np.empty(2 * len(english_ids), np.int64)
    english_data, english_starts, english_ends = english
    french_data, french_starts, french_ends = french
    for pair in range(len(rows)):
        row = rows[pair]
        english_start, english_end = english_starts[row], english_ends[row]
        french_start, french_end = french_starts[row], french_ends[row]
        english_count, english_anchor_count = _read(
            english_data,
            english_start,
            english_end,
            max_chars,
            stem_chars,
            classes,
            lower,
            english_words,
            0,
            english_anchors,
            0,
        )
        french_count, french_anchor_count = _read(
            french_data,
            french_start,
            french_end,
            max_chars,
            stem_chars,
            classes,
            lower,
            french_words,
            0,
            french_anchors,
            0,
        )
        for at in range(english_count):
            english_ids[at] = _id_of(english_vocabulary[0], english_vocabulary[1], english_words[0][at])
        for at in range(french_count):
            french_ids[at] = _id_of(french_vocabulary[0], french_vocabulary[1], french_words[0][at])
        _cognates(
            english_words[1],
            english_count,
            french_words[1],
            french_count,
            english_cognates,
            french_cognates,
            slots,
            sides,
            at_slot,
        )
        sums[0, pair], sums[1, pair] = _explained(
            english_ids, english_count, french_ids, french_count, french_cognates, forward, floor, french_scratch
        )
        sums[2, pair], sums[3, pair] = _explained(
            french_ids, french_count, english_ids, english_count, english_cognates, backward, floor, english_scratch
        )
        sums[4, pair], sums[5, pair] = _anchor_counts(
            english_anchors[1],
            english_anchors[2],
            english_anchor_count,
            english_data,
            french_anchors[1][:french_anchor_count],
            french_data[french_start:french_end],
            lower,
        )
        sums[6, pair], sums[7, pair] = _anchor_counts(
            french_anchors[1],
            french_anchors[2],
            french_anchor_count,
            french_data,
            english_anchors[1][:english_anchor_count],
            english_data[english_start:english_end],
            lower,
        )
    return sums


@njit(cache=True, nogil=True)
def instances(
    english_ids: np.ndarray,
    english_bounds: np.ndarray,
    french_ids: np.ndarray,
    french_bounds: np.ndarray,
    english_null: int,
    french_null: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The instances Model 1 learns from: one per (English type, French type) occurrence of each pair, but not NULL
    with NULL (pair i's types are `ids[bounds[i]:bounds[i + 1]]`). Returns, per instance, the positions of its
    English and French types and the id of its word pair, and the word pairs as keys `english * (french_null + 1) +
    french`, their ids in the order they first occur."""
    total = 0
    for text in range(len(english_bounds) - 1):
        total += (english_bounds[text + 1] - english_bounds[text]) * (french_bounds[text + 1] - french_bounds[text])
    english_at, french_at, pair = np.empty(total, np.int32), np.empty(total, np.int32), np.empty(total, np.int32)
    width = french_null + 1
    # The table grows when three quarters full: a larger one is slower for the cache misses than its longer probes.
    capacity = 1024
    slots, ids = np.empty(capacity, np.int64), np.full(capacity, -1, np.int32)
    keys = np.empty(capacity, np.int64)
    found = count = 0
    for text in range(len(english_bounds) - 1):
        for english in range(english_bounds[text], english_bounds[text + 1]):
            for french in range(french_bounds[text], french_bounds[text + 1]):
                if english_ids[english] == english_null and french_ids[french] == french_null:
                    continue
                key = english_ids[english] * width + french_ids[french]
                slot = _slot(key, capacity)
                while ids[slot] >= 0 and slots[slot] != key:
                    slot = (slot + 1) & (capacity - 1)
                if ids[slot] < 0:
                    if 4 * (found + 1) > 3 * capacity:
                        capacity *= 2
                        slots, ids = _rehashed(keys, found, capacity)
                        keys = np.concatenate((keys, np.empty(len(keys), np.int64)))
                        slot = _slot(key, capacity)
                        while ids[slot] >= 0:
                            slot = (slot + 1) & (capacity - 1)
                    slots[slot], ids[slot], keys[found] = key, found, key
                    found += 1
                english_at[count], french_at[count], pair[count] = english, french, ids[slot]
                count += 1
    return english_at[:count], french_at[:count], pair[:count], keys[:found]


@njit(cache=True, nogil=True)
def _slot(key: int, capacity: int) -> int:
    """Where a non-negative key's search starts in a table of `capacity` slots (a power of two)."""
    return ((key * _SPREAD) >> 32) & (capacity - 1)


@njit(cache=True, nogil=True)
def _rehashed(keys: np.ndarray, found: int, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """An open-addressing table of `capacity` slots holding `keys[:found]`, key i with id i."""
    slots, ids = np.empty(capacity, np.int64), np.full(capacity, -1, np.int32)
    for i in range(found):
        slot = _slot(keys[i], capacity)
        while ids[slot] >= 0:
            slot = (slot + 1) & (capacity - 1)
        slots[slot], ids[slot] = keys[i], i
    return slots, ids

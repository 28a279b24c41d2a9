"""Arrow helpers the stages and the row model share; reads and writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc


def rewrite_where(texts: pa.Array, needs: pa.Array, transform: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`transform` applied only to the texts where `needs` is true (a null counts as false), the others kept as they
    are: a rewrite costs more than the scan that picks its rows, and most texts need none."""
    chosen = pc.fill_null(needs, False)
    if not pc.any(chosen).as_py():
        return texts
    return pc.replace_with_mask(texts, chosen, transform(pc.filter(texts, chosen)).cast(texts.type))


def matches_any(texts: pa.Array, patterns: Iterable[str]) -> pa.Array:
    """Whether each text matches one of `patterns` (RE2 syntax), which are scanned for one at a time. RE2 finds a
    pattern that starts with a literal character by skipping from one occurrence of that character to the next,
    and runs its automaton only from there; for their alternation, it would run it over every byte."""
    found = None
    for pattern in patterns:
        matched = pc.match_substring_regex(texts, pattern)
        found = matched if found is None else pc.or_(found, matched)
    if found is None:
        raise ValueError("no pattern to match")
    return found

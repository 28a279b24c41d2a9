"""The validated pair: its model, its Arrow schema and its text normalisation; reads and writes nothing.

`SCHEMA` is the schema of `data/validated.parquet`, which validate writes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

import annotated_types
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pipeline.arrow import rewrite_where

# ASCII and typographic spaces that carry no meaning of their own. The no-break spaces U+00A0, U+2007 and U+202F
# are left out on purpose: French typography puts them before `:;!?` and inside guillemets, so they are content.
_SPACES = r"\t\n\x{0B}\x{0C}\r \x{1680}\x{2000}-\x{2006}\x{2008}-\x{200A}\x{2028}\x{2029}\x{205F}\x{3000}"
# What the collapse rewrites: runs of two or more, and any single space other than U+0020. Leaving single ASCII
# spaces unmatched makes the rewrite several times faster than replacing every run by itself.
_UNCOLLAPSED_SPACE = f"[{_SPACES}]{{2,}}|[{_SPACES.replace(' ', '')}]"
# Strings without any of these are already collapsed and stripped; matching is some 40 times cheaper than replacing.
_UNTIDY = f"^[{_SPACES}]|[{_SPACES}]$|[{_SPACES}][{_SPACES}]|[{_SPACES.replace(' ', '')}]"
# Blocks of characters that each have NFC quick-check "yes" and combining class 0, so that a string made of them
# alone is NFC whatever their order: Latin, Greek, Cyrillic, punctuation, currency, letterlike symbols, arrows,
# mathematical operators and alphanumerics. Only strings with a character outside them (a combining accent, an
# en quad, the ohm sign...) need `unicodedata.is_normalized`, which would cost more than all the other checks.
NFC_STABLE_RANGES = (
    (0x0000, 0x02FF),
    (0x0370, 0x0373),
    (0x0375, 0x037D),
    (0x037F, 0x0386),
    (0x0388, 0x0482),
    (0x0488, 0x04FF),
    (0x2002, 0x20CF),
    (0x2100, 0x2125),
    (0x2127, 0x2129),
    (0x212C, 0x2328),
    (0x232B, 0x27FF),
    (0x1D400, 0x1D7FF),
)
_MAYBE_NOT_NFC = "[^" + "".join(f"\\x{{{low:X}}}-\\x{{{high:X}}}" for low, high in NFC_STABLE_RANGES) + "]"
# What a string that `normalize` would rewrite matches (and some it would not).
MAYBE_UNNORMALIZED = f"{_MAYBE_NOT_NFC}|{_UNTIDY}"


def normalize(texts: pa.Array | pa.ChunkedArray, maybe: pa.Array | None = None) -> pa.Array:
    """Unicode NFC, runs of collapsible spaces made one ASCII space, ends stripped; nulls stay null.

    One scan finds the strings that may need either rewrite (`MAYBE_UNNORMALIZED`: a character outside
    `NFC_STABLE_RANGES`, or untidy spaces); only those are looked at again, and only the ones that are not NFC, or
    untidy, are rewritten: a scan costs the same whatever the pattern, and checking costs less than rewriting clean
    text. A caller that has scanned `texts` for `MAYBE_UNNORMALIZED` or a wider pattern passes what it found as
    `maybe`, and no scan is made here.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if maybe is None:
        maybe = pc.match_substring_regex(texts, MAYBE_UNNORMALIZED)
    return rewrite_where(texts, maybe, _normalize_suspects)


def _normalize_suspects(texts: pa.Array) -> pa.Array:
    maybe = pc.fill_null(pc.match_substring_regex(texts, _MAYBE_NOT_NFC), False)
    if pc.any(maybe).as_py():
        not_nfc = [not unicodedata.is_normalized("NFC", text) for text in pc.filter(texts, maybe).to_pylist()]
        needs_nfc = pc.replace_with_mask(maybe, maybe, pa.array(not_nfc, pa.bool_()))
        texts = rewrite_where(texts, needs_nfc, lambda subset: pc.utf8_normalize(subset, form="NFC"))
    return rewrite_where(
        texts,
        pc.match_substring_regex(texts, _UNTIDY),
        lambda subset: pc.utf8_trim(pc.replace_substring_regex(subset, _UNCOLLAPSED_SPACE, " "), characters=" "),
    )


def normalize_text(text: str | None) -> str | None:
    """The scalar form of `normalize`, for one string."""
    return normalize(pa.array([text], pa.string()))[0].as_py()


class Pair(BaseModel):
    """One released pair: both sides normalised and non-empty, where it came from, and the rules it was flagged by."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    source: Annotated[
        str, Field(min_length=1, description="The raw CSV the record comes from, by its name under `ingest.source`.")
    ]
    line: Annotated[int, Field(ge=1, description="1-based physical line of the raw CSV where the record starts.")]
    english: Annotated[str, Field(min_length=1, description="English side, normalised (NFC, spaces collapsed).")]
    french: Annotated[
        str,
        Field(
            min_length=1,
            description="French side, normalised the same way; typographic apostrophes, guillemets and no-break "
            "spaces are kept as the translator wrote them.",
        ),
    ]
    flags: list[str] = Field(
        default_factory=list,
        description="Reason codes of the rules whose action is `flag` and that fired on this row, in registry order.",
    )


# The model's fields, one adapter per column, for the rows that the Arrow checks below single out.
_COLUMNS = {name: TypeAdapter(list[Annotated[field.annotation, field]]) for name, field in Pair.model_fields.items()}


def _too_short(column: pa.Array, constraint: annotated_types.MinLen) -> pa.Array:
    if pa.types.is_list(column.type):
        return pc.less(pc.list_value_length(column), constraint.min_length)
    # A code point takes one to four bytes: only the texts of fewer than four bytes per code point needed are counted.
    maybe = pc.fill_null(pc.less(pc.binary_length(column), 4 * constraint.min_length), False)
    if not pc.any(maybe).as_py():
        return maybe
    return pc.replace_with_mask(maybe, maybe, pc.less(pc.utf8_length(pc.filter(column, maybe)), constraint.min_length))


# Arrow forms of the field constraints the model uses: each gives, per row, whether the constraint is broken.
_BROKEN_BY: dict[type, Callable[[pa.Array, Any], pa.Array]] = {
    annotated_types.MinLen: _too_short,
    annotated_types.Ge: lambda column, constraint: pc.less(column, constraint.ge),
}


def _suspects(batch: pa.RecordBatch) -> pa.Array:
    """Rows whose values the model might refuse: a null in a required field, or a broken constraint. A constraint
    without an Arrow form makes its whole column suspect, so adding one to the model can never be skipped."""
    suspect = pa.nulls(batch.num_rows, pa.bool_()).fill_null(False)
    for name, field in Pair.model_fields.items():
        column = batch.column(name)
        suspect = pc.or_(suspect, pc.is_null(column))
        for constraint in field.metadata:
            broken = _BROKEN_BY.get(type(constraint))
            if broken is None:
                return pa.nulls(batch.num_rows, pa.bool_()).fill_null(True)
            suspect = pc.or_(suspect, pc.fill_null(broken(column, constraint), False))
    return suspect


def contract_breaks(batch: pa.RecordBatch) -> dict[int, str]:
    """Row position → what the `Pair` model refuses in that row of a batch with its fields as columns.

    The column types are the Arrow schema's (`SCHEMA`); nulls and the fields' constraints are checked in Arrow,
    and only the rows that fail there are validated by the model, which words the message: validating every row
    in Python would cost far more than the Arrow checks.
    """
    positions = pc.indices_nonzero(_suspects(batch))
    if not len(positions):
        return {}
    rows = batch.take(positions)
    breaks: dict[int, list[str]] = {}
    for name, adapter in _COLUMNS.items():
        try:
            adapter.validate_python(rows.column(name).to_pylist(), strict=True)
        except ValidationError as exc:
            for error in exc.errors():
                breaks.setdefault(positions[error["loc"][0]].as_py(), []).append(f"{name}: {error['msg']}")
    return {position: "; ".join(messages) for position, messages in sorted(breaks.items())}


SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("english", pa.string(), nullable=False),
        pa.field("french", pa.string(), nullable=False),
        pa.field("flags", pa.list_(pa.string()), nullable=False),
    ]
)

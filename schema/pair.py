"""The validated pair: its Pydantic model, its Arrow schema in `data/validated.parquet`, and its text normalisation."""

from __future__ import annotations

import unicodedata
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# ASCII and typographic spaces that carry no meaning of their own. The no-break spaces U+00A0, U+2007 and U+202F
# are left out on purpose: French typography puts them before `:;!?` and inside guillemets, so they are content.
COLLAPSIBLE_SPACE = r"[\t\n\x{0B}\x{0C}\r \x{1680}\x{2000}-\x{2006}\x{2008}-\x{200A}\x{2028}\x{2029}\x{205F}\x{3000}]+"


def normalize(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Unicode NFC, runs of collapsible spaces made one ASCII space, ends stripped; nulls stay null.

    Only non-ASCII strings that are not already NFC go through `utf8_normalize`: recomposing text that is already
    NFC costs about five times more than checking it.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    needs_nfc = pc.invert(pc.fill_null(pc.string_is_ascii(texts), True))
    if pc.any(needs_nfc).as_py():
        candidates = pc.filter(texts, needs_nfc).to_pylist()
        not_nfc = [not unicodedata.is_normalized("NFC", text) for text in candidates]
        if any(not_nfc):
            mask = pc.replace_with_mask(needs_nfc, needs_nfc, pa.array(not_nfc, pa.bool_()))
            texts = pc.if_else(mask, pc.utf8_normalize(texts, form="NFC"), texts)
    collapsed = pc.replace_substring_regex(texts, COLLAPSIBLE_SPACE, " ")
    return pc.utf8_trim(collapsed, characters=" ")


def normalize_text(text: str | None) -> str | None:
    """The scalar form of `normalize`, for one string."""
    return normalize(pa.array([text], pa.string()))[0].as_py()


class Pair(BaseModel):
    """One released pair: both sides normalised and non-empty, where it came from, and the rules it was flagged by."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

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


PAIRS = TypeAdapter(list[Pair])

SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("english", pa.string(), nullable=False),
        pa.field("french", pa.string(), nullable=False),
        pa.field("flags", pa.list_(pa.string()), nullable=False),
    ]
)

"""The validated pair: its Pydantic model, its Arrow schema in `data/validated.parquet`, and its text normalisation."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# ASCII and typographic spaces that carry no meaning of their own. The no-break spaces U+00A0, U+2007 and U+202F
# are left out on purpose: French typography puts them before `:;!?` and inside guillemets, so they are content.
_SPACES = r"\t\n\x{0B}\x{0C}\r \x{1680}\x{2000}-\x{2006}\x{2008}-\x{200A}\x{2028}\x{2029}\x{205F}\x{3000}"
COLLAPSIBLE_SPACE = f"[{_SPACES}]+"
# Strings without any of these are already collapsed and stripped; matching is some 40 times cheaper than replacing.
_UNTIDY = f"^[{_SPACES}]|[{_SPACES}]$|[{_SPACES}][{_SPACES}]|[{_SPACES.replace(' ', '')}]"


def _rewrite(texts: pa.Array, needs: pa.Array, transform: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`transform` applied only to the texts where `needs` is true."""
    needs = pc.fill_null(needs, False)
    if not pc.any(needs).as_py():
        return texts
    return pc.replace_with_mask(texts, needs, transform(pc.filter(texts, needs)))


def normalize(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Unicode NFC, runs of collapsible spaces made one ASCII space, ends stripped; nulls stay null.

    Only non-ASCII strings that are not already NFC go through `utf8_normalize`, and only untidy strings through
    the space rewrite: checking is several times cheaper than rewriting text that is already clean.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(texts), True))
    if pc.any(non_ascii).as_py():
        not_nfc = [not unicodedata.is_normalized("NFC", text) for text in pc.filter(texts, non_ascii).to_pylist()]
        needs_nfc = pc.replace_with_mask(non_ascii, non_ascii, pa.array(not_nfc, pa.bool_()))
        texts = _rewrite(texts, needs_nfc, lambda subset: pc.utf8_normalize(subset, form="NFC"))
    return _rewrite(
        texts,
        pc.match_substring_regex(texts, _UNTIDY),
        lambda subset: pc.utf8_trim(pc.replace_substring_regex(subset, COLLAPSIBLE_SPACE, " "), characters=" "),
    )


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


# The model's fields, one adapter per column: validating a batch column by column, against the same field
# definitions, costs a third of validating it row by row (no dict and no model instance per row).
_COLUMNS = {name: TypeAdapter(list[Annotated[field.annotation, field]]) for name, field in Pair.model_fields.items()}


def contract_breaks(batch: pa.RecordBatch) -> dict[int, str]:
    """Row position → what the `Pair` model refuses in that row of a batch with its fields as columns."""
    breaks: dict[int, list[str]] = {}
    for name, adapter in _COLUMNS.items():
        try:
            adapter.validate_python(batch.column(name).to_pylist(), strict=True)
        except ValidationError as exc:
            for error in exc.errors():
                breaks.setdefault(error["loc"][0], []).append(f"{name}: {error['msg']}")
    return {position: "; ".join(messages) for position, messages in sorted(breaks.items())}

SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("english", pa.string(), nullable=False),
        pa.field("french", pa.string(), nullable=False),
        pa.field("flags", pa.list_(pa.string()), nullable=False),
    ]
)

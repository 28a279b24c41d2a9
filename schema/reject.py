"""The reject record: one line of a stage's rejects report (JSONL), the same shape whichever stage wrote it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Reject(BaseModel):
    """A raw record that is not released, and why.

    Every stage fills `source` (the raw file, by its name under `ingest.source`), `line` (where the record starts in
    that file), `stage`, `reasons` (stable snake_case codes, counted in the stage's metrics) and `message` (what a
    maintainer reads); the other fields say what the stage knew of the record: the raw text if it could not be
    parsed, the two sides if it could, the flags it carried, and for a merged duplicate its id and the id of the row
    kept instead.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    line: int = Field(ge=1)
    stage: str
    reasons: list[str] = Field(min_length=1)
    message: str
    raw: str | None = None
    english: str | None = None
    french: str | None = None
    flags: list[str] | None = None
    id: str | None = None
    merged_into: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report line: the fields the stage filled, in the model's order."""
        return self.model_dump(exclude_unset=True)

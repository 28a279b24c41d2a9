"""The baseline: how a release script is typically written by hand with pandas, Pydantic and `datasets`.

Reads the whole CSV with pandas, validates row by row with a Pydantic model (NFC and stripping in a Python field
validator), drops exact duplicates, gives each row a sha256 id, makes the splits with two `train_test_split`
calls (80/10/10) and writes one parquet file per split. Everything is held in memory at once.

Usage: python bench/baseline.py SOURCE.csv TARGET_DIR
"""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from pathlib import Path

import pandas as pd
from datasets import Dataset
from pydantic import BaseModel, ValidationError, field_validator


class Pair(BaseModel):
    English: str
    French: str

    @field_validator("English", "French")
    @classmethod
    def _normalised(cls, text: str) -> str:
        text = " ".join(unicodedata.normalize("NFC", text).split())
        if not text:
            raise ValueError("empty")
        return text


def main(source: str, target: str) -> int:
    frame = pd.read_csv(source, sep=";", dtype=str, keep_default_na=False, on_bad_lines="skip")
    pairs = []
    for record in frame.to_dict("records"):
        try:
            pair = Pair.model_validate(record)
        except ValidationError:
            continue
        digest = hashlib.sha256(f"{pair.English}\x00{pair.French}".encode()).hexdigest()
        pairs.append({"id": digest, "translation": {"en": pair.English, "fr": pair.French}})
    table = pd.DataFrame(pairs).drop_duplicates(subset="id")
    dataset = Dataset.from_pandas(table, preserve_index=False)
    train_rest = dataset.train_test_split(test_size=0.2, seed=0)
    validation_test = train_rest["test"].train_test_split(test_size=0.5, seed=0)
    splits = {"train": train_rest["train"], "validation": validation_test["train"], "test": validation_test["test"]}
    Path(target).mkdir(parents=True, exist_ok=True)
    for name, split in splits.items():
        split.to_parquet(str(Path(target) / f"{name}.parquet"))
    print(
        f"baseline: {len(table):,} rows written to {target} ({', '.join(f'{n} {len(s):,}' for n, s in splits.items())})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

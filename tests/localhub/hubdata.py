"""Builds the small Parquet datasets and cards the localhub tests upload."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SPLIT_ROWS = {"train": 8, "validation": 3, "test": 2}

CARD = """---
license: cc-by-4.0
language:
- en
- fr
task_categories:
- translation
pretty_name: Tiny pairs
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: validation
    path: data/validation-*.parquet
  - split: test
    path: data/test-*.parquet
---
# Tiny pairs

A few English-French pairs for the server tests.
"""


def split_table(split: str, rows: int, offset: int = 0) -> pa.Table:
    ids = [f"{split}-{offset + i}" for i in range(rows)]
    return pa.table({"id": ids, "en": [f"hello {i}" for i in ids], "fr": [f"bonjour {i}" for i in ids]})


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_dataset_folder(folder: Path, offset: int = 0) -> Path:
    """README with `configs:` plus one Parquet shard per split, as the build stage lays them out."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(CARD)
    for split, rows in SPLIT_ROWS.items():
        pq.write_table(split_table(split, rows, offset), folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def head(api, repo_id: str, revision: str = "main") -> str:
    """The commit a revision of a dataset repo points at, as the client sees it."""
    return api.dataset_info(repo_id, revision=revision).sha

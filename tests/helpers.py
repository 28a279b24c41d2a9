"""Shared test helpers: where the shared corpus lives, and params for a stage run in a temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schema.params import Params

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
RECONSTRUCTION = SHARED_DATA / "nyu-dlsp20-en-fr.csv"
SEED = REPO / "data" / "raw" / "seed-sample.csv"


def reconstruction() -> Path:
    if not RECONSTRUCTION.is_file():
        pytest.skip(f"the 2,292-row reconstruction is not at {RECONSTRUCTION} (../shared/data is absent)")
    return RECONSTRUCTION


def make_params(source: Path | str = "raw.csv", **sections: dict[str, Any]) -> Params:
    raw: dict[str, Any] = {"ingest": {"source": str(source)}, "release": {"version": "1.0.0", "date": "2026-01-01"}}
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return Params.model_validate(raw)

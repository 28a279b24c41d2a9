"""Two releases of the reconstruction on the session's Hub, made by the pipeline's own stages, for the page tests.

v1.0.0 is the reconstruction. v2.0.0 drops some of its pairs, edits one, and adds pairs whose text is markup meant
to run in a browser: the `markup` rule only flags in both releases, so that such rows reach the viewer.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import build, ingest, publish, split, validate
from schema.params import Params
from tests.helpers import make_params, reconstruction, stage_paths

OLD, NEW = "1.0.0", "2.0.0"
DROPPED = range(40, 60)
EDITED = 100
# Markup that runs if a page writes it unescaped; each sets a global the tests look for.
HOSTILE = [
    (
        "Never paste <script>window.__injected = 'script'</script> into a page that shows what people typed.",
        "Ne collez jamais <script>window.__injected = 'script'</script> dans une page qui montre ce qu’on a tapé.",
    ),
    (
        'An image such as <img src="missing.png" onerror="window.__injected = \'onerror\'"> runs its handler.',
        'Une image comme <img src="missing.png" onerror="window.__injected = \'onerror\'"> exécute son gestionnaire.',
    ),
]


@dataclass(frozen=True)
class Corpus:
    repo_id: str
    params: Params
    folders: dict[str, Path]


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _release(folder: Path, hub, repo_id: str, version: str, rows: list[list[str]], previous: Path | None) -> Params:
    folder.mkdir(parents=True)
    (folder / "raw.csv").write_text(_csv(rows), encoding="utf-8", newline="")
    params = make_params(
        source=folder / "raw.csv",
        hub={"endpoint": hub.endpoint, "repo_id": repo_id},
        release={"version": version, "date": "2026-11-26" if version == OLD else "2026-12-01"},
        split={"previous_manifest": str(previous) if previous else None},
        validate={"rules": {"markup": "flag"}},
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("HF_TOKEN", hub.write_token)
        for stage in (ingest, validate, split, build):
            stage.run(params, stage_paths(stage.STAGE, folder))
        publish.run(params, stage_paths("publish", folder))
    return params


def publish_two_releases(root: Path, hub, repo_id: str) -> Corpus:
    with reconstruction().open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file, delimiter=";"))
    header, pairs = rows[0], rows[1:]
    _release(root / OLD, hub, repo_id, OLD, [header, *pairs], None)
    pinned = root / "previous-manifest.parquet"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_TOKEN", hub.write_token)
        publish.fetch_manifest(make_params(hub={"endpoint": hub.endpoint, "repo_id": repo_id}), OLD, pinned)
    edited = [*pairs]
    edited[EDITED] = [pairs[EDITED][0], pairs[EDITED][1] + " (révisé)"]
    kept = [pair for index, pair in enumerate(edited) if index not in DROPPED]
    params = _release(root / NEW, hub, repo_id, NEW, [header, *kept, *map(list, HOSTILE)], pinned)
    return Corpus(repo_id, params, {OLD: root / OLD / "dist" / "hub", NEW: root / NEW / "dist" / "hub"})

"""The releases of a repo (its `v<MAJOR>.<MINOR>.<PATCH>` tags) and what changed between two of them, read from the
manifests they hold and counted by `pipeline.changelog`, as `python -m pipeline.publish changelog` counts it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from localhub.pages.shards import ContentCache, StoredFile, content_id, revision_configs
from localhub.storage import Ref, Repo
from pipeline import changelog
from schema.manifest import MANIFEST_FILE

RELEASE_TAG = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
KINDS = changelog.CHANGE_KINDS
# A comparison holds the ids of every changed row; a few are enough for a maintainer going back and forth.
_COMPARISONS = ContentCache(8)


@dataclass(frozen=True)
class Release:
    tag: str
    commit: str
    date: str
    rows: dict[str, int]


def newest_first(tags: list[Ref]) -> list[Ref]:
    """Release tags by version, newest first, then the other tags by name."""

    def order(tag: Ref) -> tuple:
        match = RELEASE_TAG.fullmatch(tag.name)
        return (0, *(-int(part) for part in match.groups()), "") if match else (1, 0, 0, 0, tag.name)

    return sorted(tags, key=order)


def releases(repo: Repo) -> list[Release]:
    """The release tags, newest version first, with the rows of each split of the default config."""
    _, tags = repo.refs()
    found = []
    for tag in newest_first(tags):
        if RELEASE_TAG.fullmatch(tag.name):
            configs = revision_configs(repo, tag.target)
            rows = {split.name: split.rows(repo) for split in configs[0].splits} if configs else {}
            found.append(Release(tag.name, tag.target, tag.date, rows))
    return found


@dataclass(frozen=True)
class Comparison:
    """The changes between two releases: the counts, and the rows behind them by kind, each row with its id and split
    in the newer release and the id and split it continues in the older one (empty for added and removed rows)."""

    changes: changelog.Changes
    rows: dict[str, pa.Table]


def compare(repo: Repo, old_commit: str, new_commit: str) -> Comparison | None:
    """None when either commit holds no manifest."""
    old, new = repo.entry(old_commit, MANIFEST_FILE), repo.entry(new_commit, MANIFEST_FILE)
    if old is None or new is None:
        return None

    def compute() -> Comparison:
        previous, current = (pq.read_table(StoredFile(repo, entry)) for entry in (old, new))
        return Comparison(changelog.diff(previous, current), changelog.changed_rows(previous, current))

    return _COMPARISONS.get((content_id(old), content_id(new)), compute)

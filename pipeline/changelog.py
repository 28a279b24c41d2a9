"""Changelog: reads two release manifests (`schema.manifest.SCHEMA`); prints, or returns, what changed between them.

Ids are derived from the matching keys of both sides, so an edit that changes a key changes the id. What a
reader calls an edited row is therefore found in two ways:

- same id, other `content_sha256`: the text changed without changing its keys (spacing, apostrophes, case);
- an id that disappeared and an id that appeared which share their English key or their French key: one side
  was fixed. The split stage pins such a row to its previous split, so this is also how the contract
  "an edited row keeps its split" is checked.

Every row of the current manifest is then exactly one of unchanged, changed or added, and every row of the
previous manifest that no current row continues is removed. A row that continues a previous row in another
split has moved, whether it changed or not.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schema.params import SPLITS

Bump = Literal["patch", "minor", "major"]
VERSION_METADATA = b"release.version"
# A new row sharing either key with a vanished row continues it (an edit), whatever its id.
_KEYS = ("english_key_sha256", "french_key_sha256")


@dataclass(frozen=True)
class Changes:
    """Row counts of a release compared with the previous one, by split (the current split, or the previous one for
    removed rows); `moved` counts rows by (previous split, current split)."""

    first_release: bool
    rows: int
    previous_rows: int
    added: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    moved: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def unchanged(self) -> int:
        return self.rows - sum(self.added.values()) - sum(self.changed.values())

    def summary(self) -> str:
        counts = {"added": self.added, "changed": self.changed, "removed": self.removed}
        parts = [f"{sum(by_split.values()):,} {name}" for name, by_split in counts.items()]
        return ", ".join([*parts, f"{sum(self.moved.values()):,} moved between splits"])

    def required_bump(self) -> Bump:
        """The smallest version bump allowed: PATCH = same rows; MINOR = rows added or fixed, none moved or removed;
        MAJOR = anything else (rows removed or moved between splits break what consumers evaluated on), and a first
        release, which has nothing to be compatible with."""
        if self.first_release or self.removed or self.moved:
            return "major"
        if self.added or self.changed:
            return "minor"
        return "patch"


def diff(previous: pa.Table | None, current: pa.Table) -> Changes:
    """Compares two manifests; `previous` is None for a first release."""
    if previous is None:
        return Changes(first_release=True, rows=current.num_rows, previous_rows=0, added=_by_split(current["split"]))
    rows = changed_rows(previous, current)
    moves = Counter(zip(rows["moved"]["old_split"].to_pylist(), rows["moved"]["split"].to_pylist(), strict=True))
    return Changes(
        first_release=False,
        rows=current.num_rows,
        previous_rows=previous.num_rows,
        added=_by_split(rows["added"]["split"]),
        removed=_by_split(rows["removed"]["old_split"]),
        changed=_by_split(rows["changed"]["split"]),
        moved=dict(sorted(moves.items(), key=lambda item: (_order(item[0][0]), _order(item[0][1])))),
    )


CHANGE_KINDS = ("added", "changed", "removed", "moved")
_ROW_COLUMNS = ["id", "split", "old_id", "old_split"]
_ROW_SCHEMA = pa.schema([pa.field(name, pa.string()) for name in _ROW_COLUMNS])


def changed_rows(previous: pa.Table, current: pa.Table) -> dict[str, pa.Table]:
    """The rows `diff` counts, by kind (`CHANGE_KINDS`), each as (id, split, old_id, old_split) in id order, null
    where a kind has no such side. A fixed row continuing two vanished rows is one changed row, listed with the first
    it continues, but two moves: each is a row leaving its split."""
    columns = ["id", "split", *_KEYS, "content_sha256"]
    old = previous.select(columns).rename_columns(["id", "old_split", *(f"old_{key}" for key in _KEYS), "old_content"])
    new = current.select(columns)
    kept = new.join(old, "id", join_type="inner")
    kept = kept.append_column("old_id", kept["id"])
    appeared = new.join(old.select(["id"]), "id", join_type="left anti")
    gone = old.join(new.select(["id"]), "id", join_type="left anti")
    continued = _continuations(appeared, gone)
    is_fix = pc.is_in(appeared["id"], continued["id"].combine_chunks())
    fixes = (
        continued.group_by(["id", "split"], use_threads=False)
        .aggregate([("old_id", "min"), ("old_split", "min")])
        .rename_columns({"old_id_min": "old_id", "old_split_min": "old_split"})
    )
    edited = kept.filter(pc.not_equal(kept["content_sha256"], kept["old_content"]))
    removed = gone.filter(pc.invert(pc.is_in(gone["id"], continued["old_id"].combine_chunks())))
    moves = _listed(kept, continued)
    return {
        "added": _listed(appeared.filter(pc.invert(is_fix)).select(["id", "split"])),
        "changed": _listed(edited, fixes),
        "removed": _listed(removed.select(["id", "old_split"]).rename_columns(["old_id", "old_split"])),
        "moved": moves.filter(pc.not_equal(moves["split"], moves["old_split"])),
    }


def _listed(*tables: pa.Table) -> pa.Table:
    complete = []
    for table in tables:
        for name in _ROW_COLUMNS:
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
        complete.append(table.select(_ROW_COLUMNS).cast(_ROW_SCHEMA))
    return pa.concat_tables(complete).sort_by([("id", "ascending"), ("old_id", "ascending")])


def _continuations(appeared: pa.Table, gone: pa.Table) -> pa.Table:
    """(id, split, old_id, old_split) of each new row sharing its English or its French key with a vanished row."""
    gone = gone.rename_columns(["old_id", "old_split", *(f"old_{key}" for key in _KEYS), "old_content"])
    matches = [
        appeared.join(gone, side, right_keys="old_" + side, join_type="inner").select(
            ["id", "split", "old_id", "old_split"]
        )
        for side in _KEYS
    ]
    both = pa.concat_tables(matches)
    if not both.num_rows:
        return both
    return (
        both.group_by(["id", "split", "old_id", "old_split"], use_threads=False)
        .aggregate([])
        .sort_by([("id", "ascending"), ("old_id", "ascending")])
    )


def _order(split: str) -> int:
    return SPLITS.index(split) if split in SPLITS else len(SPLITS)


def _by_split(splits: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    counts = Counter(splits.to_pylist())
    return {name: counts[name] for name in sorted(counts, key=_order)}


def _counts(by_split: dict[str, int]) -> str:
    total = sum(by_split.values())
    if not total:
        return "0"
    return f"{total:,} ({', '.join(f'{name} {count:,}' for name, count in by_split.items())})"


def render_markdown(changes: Changes, previous_version: str | None, version: str, level: int = 2) -> str:
    """The changelog section of one release in Markdown: a heading of `level`, then a list."""
    heading = f"{'#' * level} {version}\n\n"
    if changes.first_release:
        return (
            heading
            + f"First release, with {_counts(changes.added)} rows; there is no previous release to compare with.\n"
        )
    against = f"v{previous_version}" if previous_version else "the previous release"
    lines = [
        f"Compared with {against} ({changes.previous_rows:,} rows), this release has {changes.rows:,} rows:",
        "",
        f"- unchanged: {changes.unchanged:,}",
        f"- added: {_counts(changes.added)}",
        f"- changed (text edited, or one side fixed while the other side stayed): {_counts(changes.changed)}",
        f"- removed: {_counts(changes.removed)}",
        f"- moved between splits: {sum(changes.moved.values()):,}",
    ]
    lines += [f"  - {old} → {new}: {count:,}" for (old, new), count in changes.moved.items()]
    lines += ["", f"Smallest version bump these changes allow: {changes.required_bump().upper()}."]
    return heading + "\n".join(lines) + "\n"


def read_version(path: Path) -> str | None:
    """The release version a manifest was built for (stored in its parquet metadata by the build stage)."""
    metadata = pq.read_schema(path).metadata or {}
    version = metadata.get(VERSION_METADATA)
    return version.decode() if version else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m pipeline.changelog OLD_MANIFEST NEW_MANIFEST", file=sys.stderr)
        return 2
    old_path, new_path = (Path(arg) for arg in args)
    for path in (old_path, new_path):
        if not path.is_file():
            print(f"changelog: error: {path}: no such manifest", file=sys.stderr)
            return 1
    changes = diff(pq.read_table(old_path), pq.read_table(new_path))
    print(render_markdown(changes, read_version(old_path), read_version(new_path) or str(new_path)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

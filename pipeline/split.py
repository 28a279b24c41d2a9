"""Split: reads the validated rows (and the previous manifest); writes the released rows, duplicates report and metrics.

The paths are the ones `dvc.yaml` gives the stage (`SplitPaths`): the validate stage's output in, and the previous
release's manifest when `split.previous_manifest` names one; out, the released rows with their ids and splits, the
report of the rows not released, and the stage's metrics.

Rows whose matching keys (see `schema.manifest`) are both equal are duplicates: they share one id, the row first by
(english, french, line) is kept and the others are reported as merged into it. Rows sharing their English key or
their French key form one group, and a group lands in one split: the split of the previous release if any of its
keys was released (pinning), otherwise the one its hash falls in. The hash of a group is the splitmix64 finaliser of
(the smallest 64-bit id prefix in the group XOR the first 8 bytes of sha256(salt)), cut at the cumulative ratios; it
depends on the group's content only, so row order and unrelated rows never move it.

When new rows connect keys released in different splits, the pinned splits spread from the released keys one row at
a time (breadth first), and every row whose two keys are reached from different splits (or from both at once) is
reported as a `cross_split_link` and not released, so no key ever appears in two splits.

The released rows are written in id order with their manifest entries (`SCHEMA`), as parquet parts read in name
order; each row not released is one line of the report (`schema.reject.Reject`). The metrics count the rows in, the
released rows per split, the merged duplicates and the cross-split links (these three add up to the rows in), the
groups, the released rows the previous release pinned, and how far each split is from its ratio.

`pipeline.engine` keeps this fast and bounded in memory: two passes over id-range buckets on the engine's workers
(`engine` params), with a few integers per row held in between.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Arrow reads its allocator when it is first imported: a stage run as a program chooses it first.
    # The workers allocate and free a batch's or a bucket's worth of memory again and again: jemalloc would return
    # it to the system each time and fault it back in, mimalloc keeps it.
    from pipeline import process

    process.prologue("mimalloc")

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import process
from pipeline.engine.buckets import Buckets, ReleaseRule, Resolved, bucket_bits, bucket_tasks, resolve_part
from pipeline.engine.components import Groups, KeyGraph
from pipeline.engine.key_pass import INPUT_COLUMNS, key_input, prefix64
from pipeline.io import JsonlSink, Progress, StageError, staged_directory, write_json
from pipeline.parallel import Workers
from pipeline.scratch import Scratch
from schema.manifest import SCHEMA as MANIFEST_SCHEMA
from schema.manifest import ManifestError, read_manifest
from schema.pair import SCHEMA as PAIR_SCHEMA
from schema.params import SPLITS, EngineParams, Params, SplitParams
from schema.reject import Reject

STAGE = "split"


@dataclass(frozen=True)
class SplitPaths:
    """What split reads and writes, as `dvc.yaml` names it."""

    input: Path
    output: Path
    rejects: Path
    metrics: Path


# The released rows with their manifest entries: the manifest's id and split, the validated pair, then the rest
# of the manifest.
SCHEMA = pa.schema(
    [
        *(MANIFEST_SCHEMA.field(name) for name in ("id", "split")),
        *PAIR_SCHEMA,
        *(MANIFEST_SCHEMA.field(name) for name in ("english_key_sha256", "french_key_sha256", "content_sha256")),
    ]
)


class SplitCode(IntEnum):
    """The int8 codes the stage holds per row and per key: a split is its index in `SPLITS` (0 to len(SPLITS) - 1);
    the members are the codes that are not a split."""

    # A row withheld: the released splits reach its two keys differently.
    CROSS_SPLIT_LINK = len(SPLITS)
    # A key the previous release did not have.
    UNPINNED = -1
    # A key reached from two released splits at once while they spread from the released keys.
    CONTESTED = -2


def split_file(
    source: Path, output: Path, rejects_path: Path, params: SplitParams, engine: EngineParams | None = None
) -> dict[str, object]:
    """Runs the stage from `source` to `output` and `rejects_path` on `engine` (the local one by default); returns
    the metrics."""
    rows_in = _check_input(source)
    pins = _previous_release_pins(params)
    progress = Progress(STAGE, total=2 * rows_in)
    bits = bucket_bits(source)
    with (
        staged_directory(output) as staging,
        Scratch.made(engine.scratch if engine else None, output.parent, STAGE) as scratch,
        Workers(engine) as workers,
    ):
        # First pass: every row keyed and spilled by bucket; only its hashes stay in memory.
        keyed = key_input(source, scratch, bits, workers, progress)
        # Between the passes: each row's group, split and bucket. Each column of hashes is taken out of
        # `keyed.hashes` by its last user, so that it is freed once used.
        assignment = assign(KeyGraph.of(keyed.hashes, pins.lookup), keyed.hashes["id"], params)
        buckets = Buckets.of(keyed.hashes.pop("id"), bits)
        # Second pass: each bucket sorted by id, its released rows written as one part, the others reported.
        counts = Counts()
        with JsonlSink(rejects_path) as rejects:
            tasks = bucket_tasks(buckets, keyed.spilled, scratch, staging, assignment.codes, assignment.pinned)
            for resolved in workers.map(partial(resolve_part, rule=RELEASE), tasks):
                for record in resolved.reports:
                    rejects.write(record)
                counts.add(resolved)
                progress.update(rows_in + counts.rows)
    return _metrics(rows_in, counts, assignment.groups, params)


def _check_input(path: Path) -> int:
    if not path.is_file():
        raise StageError(f"{path}: no such file; run the validate stage first (dvc repro validate)")
    schema = pq.ParquetFile(path).schema_arrow
    missing = [name for name in INPUT_COLUMNS if name not in schema.names]
    if missing:
        raise StageError(f"{path}: missing columns {', '.join(missing)}; expected {', '.join(INPUT_COLUMNS)}")
    return pq.ParquetFile(path).metadata.num_rows


def _previous_release_pins(params: SplitParams) -> Pins:
    try:
        return pins_from(read_manifest(params.previous_manifest)) if params.previous_manifest else Pins.none()
    except ManifestError as exc:
        raise StageError(str(exc)) from None


@dataclass(frozen=True)
class Pins:
    """Split codes of the keys of the previous release, by 64-bit key hash, each side sorted."""

    english: np.ndarray
    english_split: np.ndarray
    french: np.ndarray
    french_split: np.ndarray

    @classmethod
    def none(cls) -> Pins:
        empty, codes = np.empty(0, np.uint64), np.empty(0, np.int8)
        return cls(empty, codes, empty, codes)

    def lookup(self, english: np.ndarray, french: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The released split of each English and each French key hash, or UNPINNED."""
        return _lookup(self.english, self.english_split, english), _lookup(self.french, self.french_split, french)


def _lookup(keys: np.ndarray, codes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    if not len(keys):
        return np.full(len(wanted), SplitCode.UNPINNED, np.int8)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, codes[at], SplitCode.UNPINNED).astype(np.int8)


def pins_from(batches: Iterator[pa.RecordBatch]) -> Pins:
    """Pins from manifest batches: every released key keeps its split. Raises StageError if the manifest puts one
    key in two splits, as that release leaked."""
    code_of = {name: code for code, name in enumerate(SPLITS)}
    sides: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"english_key_sha256": [], "french_key_sha256": []}
    for batch in batches:
        names = batch["split"].to_pylist()
        unknown = set(names) - set(code_of)
        if unknown:
            raise StageError(f"previous manifest: unknown split {sorted(unknown)[0]!r}; expected {', '.join(SPLITS)}")
        batch_codes = np.array([code_of[name] for name in names], dtype=np.int8)
        for side, chunks in sides.items():
            chunks.append((prefix64(batch[side]), batch_codes))
    sorted_sides = []
    for side, chunks in sides.items():
        keys = np.concatenate([chunk[0] for chunk in chunks]) if chunks else np.empty(0, np.uint64)
        codes = np.concatenate([chunk[1] for chunk in chunks]) if chunks else np.empty(0, np.int8)
        pairs = np.unique(np.stack([keys, codes.astype(np.uint64)], axis=1), axis=0)
        if len(np.unique(pairs[:, 0])) != len(pairs):
            raise StageError(
                f"previous manifest: one {side.removesuffix('_sha256').replace('_', ' ')} is released in two splits; "
                "that release leaked, so its splits cannot be pinned"
            )
        sorted_sides += [pairs[:, 0].copy(), pairs[:, 1].astype(np.int8)]
    return Pins(*sorted_sides)


@dataclass(frozen=True)
class Assignment:
    """Per input row: its split code (or CROSS_SPLIT_LINK) and whether the previous release fixed it."""

    codes: np.ndarray
    pinned: np.ndarray
    groups: int


def assign(graph: KeyGraph, ids: np.ndarray, params: SplitParams) -> Assignment:
    """Splits rows by group: pinned groups keep their released split, the others follow their hash. While a group
    has keys released in different splits, its cross-split links are withheld and the other rows grouped again."""
    active = np.ones(len(graph.left), dtype=bool)
    while True:
        codes, pinned, conflicted, group_count = _split_groups(graph, ids, active, params)
        if not conflicted.any():
            codes[~active] = SplitCode.CROSS_SPLIT_LINK
            return Assignment(codes, pinned & active, group_count)
        active[cross_split_links(graph, np.flatnonzero(conflicted))] = False


def _split_groups(
    graph: KeyGraph, ids: np.ndarray, active: np.ndarray, params: SplitParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per row, for the groups of the active rows: the split code (UNPINNED for the inactive rows), whether a
    released key pinned it, and whether its group's released keys are in different splits; and how many groups."""
    groups = Groups.of(graph, ids, active, SplitCode.UNPINNED)
    free = groups.highest_pin == SplitCode.UNPINNED
    hashed = groups.map_smallest_id(partial(hashed_splits, ratios=params.ratios, salt=params.salt))
    codes = groups.spread(np.where(free, hashed, groups.highest_pin), fill=SplitCode.UNPINNED)
    pinned = groups.spread(~free, fill=False)
    conflicted = groups.spread(~free & (groups.lowest_pin != groups.highest_pin), fill=False)
    return codes, pinned, conflicted, groups.count


def hashed_splits(canonical: np.ndarray, ratios: dict[str, float], salt: str) -> np.ndarray:
    """Split code of each group from its canonical 64-bit hash: splitmix64(canonical ^ salt) cut at the ratios."""
    mixed = canonical ^ np.uint64(int.from_bytes(hashlib.sha256(salt.encode("utf-8")).digest()[:8], "big"))
    mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    cumulative = np.cumsum([ratios[name] for name in SPLITS[:-1]])
    bounds = np.array([min(int(share * 2.0**64), 2**64 - 1) for share in cumulative], dtype=np.uint64)
    return np.searchsorted(bounds, mixed, side="right").astype(np.int8)


def cross_split_links(graph: KeyGraph, rows: np.ndarray) -> np.ndarray:
    """Rows of conflicting groups (`rows`) whose keys the released splits reach differently, spreading breadth first
    from the released keys one row at a time."""
    left, right = graph.left, graph.right
    touching: dict[int, list[int]] = defaultdict(list)
    for row in rows.tolist():
        touching[int(left[row])].append(row)
        touching[int(right[row])].append(row)
    reached_from = {node: int(graph.node_pin[node]) for node in touching if graph.node_pin[node] != SplitCode.UNPINNED}
    frontier = sorted(reached_from)
    while frontier:
        reaching: dict[int, set[int]] = defaultdict(set)
        for node in frontier:
            if reached_from[node] == SplitCode.CONTESTED:
                continue
            for row in touching[node]:
                other = int(right[row]) if int(left[row]) == node else int(left[row])
                if other not in reached_from:
                    reaching[other].add(reached_from[node])
        for node, codes in reaching.items():
            reached_from[node] = codes.pop() if len(codes) == 1 else SplitCode.CONTESTED
        frontier = sorted(reaching)
    return np.array(
        [
            row
            for row in rows.tolist()
            if (int(left[row]) in reached_from or int(right[row]) in reached_from)
            and (
                reached_from.get(int(left[row])) != reached_from.get(int(right[row]))
                or reached_from.get(int(left[row])) == SplitCode.CONTESTED
            )
        ],
        dtype=np.int64,
    )


def released(first_of_id: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Which rows of a bucket, ordered by id then by `RELEASE.kept_first_by`, are released: the first row of each id,
    unless it is withheld as a cross-split link. The other rows of an id are duplicates merged into the first."""
    return first_of_id & (codes != SplitCode.CROSS_SPLIT_LINK)


def report(row: dict[str, Any], code: int, first: dict[str, Any]) -> dict[str, Any]:
    """The report of a row not released: a cross-split link, or a duplicate of `first`, the row its id releases."""
    if code == SplitCode.CROSS_SPLIT_LINK:
        reason, merged_into = "cross_split_link", None
        message = (
            "shares its English with a row released in one split and its French with a row released in another "
            "(directly or through other new rows); not released, so that no text appears in two splits"
        )
    else:
        reason, merged_into = "duplicate", row["id"]
        same = first["english"] == row["english"] and first["french"] == row["french"]
        how = "exact duplicate" if same else "duplicate after normalisation (case, spacing, punctuation variants)"
        message = f"{how} of line {first['line']} of {first['source']}, which is kept"
    return Reject(
        source=row["source"],
        line=row["line"],
        stage=STAGE,
        reasons=[reason],
        message=message,
        english=row["english"],
        french=row["french"],
        id=row["id"],
        merged_into=merged_into,
    ).to_json()


RELEASE = ReleaseRule(SCHEMA, kept_first_by=("english", "french", "source", "line"), released=released, report=report)


@dataclass
class Counts:
    """What the second pass adds up, bucket by bucket: the rows resolved, the released rows per split code and how
    many of them were pinned, and the reports by reason, in total and per raw file."""

    rows: int = 0
    released: np.ndarray = field(default_factory=lambda: np.zeros(len(SPLITS), dtype=np.int64))
    pinned: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    by_source: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, resolved: Resolved) -> None:
        self.rows += resolved.rows
        self.released += resolved.released
        self.pinned += resolved.pinned
        for record in resolved.reports:
            self.reasons.update(record["reasons"])
            self.by_source[record["source"]].update(record["reasons"])


def _metrics(rows_in: int, counts: Counts, groups: int, params: SplitParams) -> dict[str, object]:
    by_split = dict(zip(SPLITS, counts.released.tolist(), strict=True))
    released_rows = sum(by_split.values())
    return {
        "rows_in": rows_in,
        "duplicates_merged": counts.reasons["duplicate"],
        "cross_split_links": counts.reasons["cross_split_link"],
        "not_released_by_source": {
            source: dict(sorted(reasons.items())) for source, reasons in sorted(counts.by_source.items())
        },
        "rows_by_split": by_split,
        "groups": groups,
        "pinned": counts.pinned,
        "ratio_deviation": {
            name: round(by_split[name] / released_rows - params.ratios[name], 4) if released_rows else 0.0
            for name in SPLITS
        },
    }


def run(params: Params, paths: SplitPaths) -> str:
    progress = Progress(STAGE)
    metrics = split_file(paths.input, paths.output, paths.rejects, params.split, params.engine)
    write_json(paths.metrics, metrics)
    by_split = ", ".join(f"{count:,} {name}" for name, count in metrics["rows_by_split"].items())  # type: ignore[union-attr]
    return (
        f"split: {metrics['rows_in']:,} rows in {progress.elapsed:.1f} s: {by_split} in {metrics['groups']:,} groups "
        f"({metrics['pinned']:,} pinned by the previous release); {metrics['duplicates_merged']:,} duplicates merged "
        f"and {metrics['cross_split_links']:,} cross-split links withheld, see {paths.rejects}."
    )


def main(argv: list[str] | None = None) -> int:
    return process.stage_main(STAGE, run, SplitPaths, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    process.exit(main())

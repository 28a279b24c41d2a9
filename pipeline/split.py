"""Split: reads `data/validated.parquet` (and `split.previous_manifest`); writes `data/split/` (the released rows in
id order, as parquet parts read in name order), `data/rejects/duplicates.jsonl` and `metrics/split.json`.

Rows whose matching keys (see `schema.manifest`) are both equal are duplicates: the row first by
(english, french, line) is kept and the others are reported. Rows sharing their English key or their French key
form one group, and a group lands in one split: the split of the previous release if any of its keys was
released (pinning), otherwise the one its hash falls in. The hash of a group is the splitmix64 finaliser of
(the smallest 64-bit id prefix in the group XOR the first 8 bytes of sha256(salt)), cut at the cumulative
ratios; it depends on the group's content only, so row order and unrelated rows never move it.

When new rows connect keys released in different splits, the pinned splits spread from the released keys one
row at a time (breadth first), and every row whose two keys are reached from different splits (or from both at
once) is reported as a `cross_split_link` and not released, so no key ever appears in two splits.

Memory stays flat in the row count except for a few 64-bit hashes per row: the first pass keys each row group of
the input on one of `split.workers` processes and appends its rows, cut into id-range buckets, to a scratch file of
that process; the second resolves the buckets on the same processes, each sorted in memory and written as one
part of the output, so the parts in name order hold the rows in id order.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import process
from pipeline.io import JsonlSink, ParquetSink, Progress, StageError, staged_directory, write_json
from pipeline.parallel import Part, Workers, parts, worker_count
from schema.manifest import (ID_BYTES, ID_PREFIX, ManifestError, content_digests, digest_array, id_digests,
                             matching_keys, read_manifest, side_digests)
from schema.manifest import SCHEMA as MANIFEST_SCHEMA
from schema.pair import SCHEMA as PAIR_SCHEMA
from schema.params import SPLITS, Params, SplitParams

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
SCHEMA = pa.schema([
    *(MANIFEST_SCHEMA.field(name) for name in ("id", "split")),
    *PAIR_SCHEMA,
    *(MANIFEST_SCHEMA.field(name) for name in ("english_key_sha256", "french_key_sha256", "content_sha256")),
])
INPUT_COLUMNS = ["line", "english", "french", "flags"]
_KEYED = pa.schema([*SCHEMA.remove(SCHEMA.get_field_index("split")), pa.field("row", pa.int64(), nullable=False)])

CROSS_SPLIT_LINK = len(SPLITS)
UNPINNED = -1
_BATCH_ROWS = 32_768
# A bucket is sorted in memory with one copy; 64 MiB of keyed rows keeps that well under the 512 MiB budget.
_BUCKET_BYTES = 64 << 20
# The id, the digests and the input position add some 150 bytes to the text of a row.
_KEYED_GROWTH = 1.3


@dataclass(frozen=True)
class RowHashes:
    """Per input row: 64-bit prefixes of the English key, French key and id hashes."""

    english: np.ndarray
    french: np.ndarray
    id: np.ndarray


def key_batch(batch: pa.RecordBatch, first_row: int) -> tuple[pa.RecordBatch, RowHashes]:
    """Adds `id`, the digests of the matching keys, `content_sha256` and the input position `row` to validated rows,
    with their hashes."""
    english_digests = side_digests(matching_keys(batch["english"]))
    french_digests = side_digests(matching_keys(batch["french"]))
    ids = id_digests(english_digests, french_digests)
    english, french = digest_array(english_digests), digest_array(french_digests)
    keyed = pa.record_batch(
        [
            pc.binary_join_element_wise(ID_PREFIX, pa.array([digest.hex() for digest in ids], pa.string()), ""),
            batch["line"],
            batch["english"],
            batch["french"],
            batch["flags"],
            english,
            french,
            content_digests(batch["english"], batch["french"]),
            pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)),
        ],
        schema=_KEYED,
    )
    return keyed, RowHashes(_u64(english), _u64(french), _u64(digest_array(ids, ID_BYTES)))


def key_part(part: Part, bits: int) -> tuple[Path, RowHashes, list[list[tuple[int, int]]]]:
    """Appends the keyed rows of one row group to the scratch file of this process, one IPC message per bucket met
    in each input batch.

    Returns that file, the hashes and, for each bucket, the (offset, size) of its messages. Only these travel back:
    the text stays on disk, in as many files as there are processes.
    """
    path = part.scratch / f"{os.getpid()}.keyed"
    parts: list[RowHashes] = []
    pieces: list[list[tuple[int, int]]] = [[] for _ in range(1 << bits)]
    with path.open("ab") as sink:
        for batch in part.batches(_BATCH_ROWS, INPUT_COLUMNS):
            keyed, hashes = key_batch(batch, part.first_row + sum(len(hashes.id) for hashes in parts))
            parts.append(hashes)
            buckets = _bucket_of(hashes.id, bits)
            # One gather puts each bucket's rows together; its slices are then serialised without copies.
            order = np.argsort(buckets, kind="stable")
            grouped = keyed.take(pa.array(order))
            bounds = np.searchsorted(buckets[order], np.arange((1 << bits) + 1))
            for index in np.flatnonzero(np.diff(bounds)).tolist():
                message = grouped.slice(bounds[index], bounds[index + 1] - bounds[index]).serialize()
                pieces[index].append((sink.tell(), message.size))
                sink.write(message)
    return path, _concatenated(parts), pieces


def _concatenated(parts: list[RowHashes]) -> RowHashes:
    return RowHashes(*(np.concatenate([getattr(part, name) for part in parts] or [np.empty(0, np.uint64)])
                       for name in ("english", "french", "id")))


def _u64(digests: pa.FixedSizeBinaryArray | pa.ChunkedArray) -> np.ndarray:
    """The first 8 bytes of each digest as a big-endian unsigned integer."""
    if isinstance(digests, pa.ChunkedArray):
        digests = digests.combine_chunks()
    width = digests.type.byte_width
    data = np.frombuffer(digests.buffers()[1], dtype=np.uint8, count=len(digests) * width, offset=digests.offset * width)
    return data.reshape(-1, width)[:, :8].copy().view(">u8")[:, 0].astype(np.uint64)


def components(left: np.ndarray, right: np.ndarray, nodes: int) -> np.ndarray:
    """Connected-component label (its smallest node) of each edge `left[i]`–`right[i]`, by min-label hooking."""
    parent = np.arange(nodes, dtype=left.dtype)
    while True:
        left_root, right_root = parent[left], parent[right]
        if np.array_equal(left_root, right_root):
            return left_root
        lower = np.minimum(left_root, right_root)
        np.minimum.at(parent, left_root, lower)
        np.minimum.at(parent, right_root, lower)
        while not np.array_equal(grand := parent[parent], parent):
            parent = grand


def hashed_splits(canonical: np.ndarray, ratios: dict[str, float], salt: str) -> np.ndarray:
    """Split code of each group from its canonical 64-bit hash: splitmix64(canonical ^ salt) cut at the ratios."""
    mixed = canonical ^ np.uint64(int.from_bytes(hashlib.sha256(salt.encode("utf-8")).digest()[:8], "big"))
    mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    cumulative = np.cumsum([ratios[name] for name in SPLITS[:-1]])
    bounds = np.array([min(int(share * 2.0**64), 2**64 - 1) for share in cumulative], dtype=np.uint64)
    return np.searchsorted(bounds, mixed, side="right").astype(np.int8)


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
        return _lookup(self.english, self.english_split, english), _lookup(self.french, self.french_split, french)


def _lookup(keys: np.ndarray, codes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    if not len(keys):
        return np.full(len(wanted), UNPINNED, np.int8)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, codes[at], UNPINNED).astype(np.int8)


def pins_from(batches: Iterator[pa.RecordBatch]) -> Pins:
    """Pins from manifest batches; raises StageError if the manifest puts one key in two splits."""
    code_of = {name: code for code, name in enumerate(SPLITS)}
    sides: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"english_key_sha256": [], "french_key_sha256": []}
    for batch in batches:
        unknown = set(batch["split"].to_pylist()) - set(code_of)
        if unknown:
            raise StageError(f"previous manifest: unknown split {sorted(unknown)[0]!r}; expected {', '.join(SPLITS)}")
        codes = np.array([code_of[name] for name in batch["split"].to_pylist()], dtype=np.int8)
        for side, parts in sides.items():
            parts.append((_u64(batch[side]), codes))
    resolved = []
    for side, parts in sides.items():
        keys = np.concatenate([part[0] for part in parts]) if parts else np.empty(0, np.uint64)
        codes = np.concatenate([part[1] for part in parts]) if parts else np.empty(0, np.int8)
        pairs = np.unique(np.stack([keys, codes.astype(np.uint64)], axis=1), axis=0)
        if len(np.unique(pairs[:, 0])) != len(pairs):
            raise StageError(
                f"previous manifest: one {side.removesuffix('_sha256').replace('_', ' ')} is released in two splits; "
                "that release leaked, so its splits cannot be pinned"
            )
        resolved += [pairs[:, 0].copy(), pairs[:, 1].astype(np.int8)]
    return Pins(*resolved)


@dataclass(frozen=True)
class Assignment:
    """Per input row: its split code (or CROSS_SPLIT_LINK) and whether the previous release fixed it."""

    codes: np.ndarray
    pinned: np.ndarray
    groups: int


@dataclass(frozen=True)
class Edges:
    """The key graph: row i joins English-key node `left[i]` to French-key node `right[i]`; `node_pin` is the
    released split of each node's key, or UNPINNED."""

    left: np.ndarray
    right: np.ndarray
    node_pin: np.ndarray

    @classmethod
    def of(cls, hashes: dict[str, np.ndarray], pins: Pins) -> Edges:
        """Takes the English and French key hashes out of `hashes`, so that each is freed once numbered."""
        english_nodes, left = _numbered(hashes.pop("english"))
        french_nodes, right = _numbered(hashes.pop("french"))
        right += len(english_nodes)
        return cls(left, right, np.concatenate(pins.lookup(english_nodes, french_nodes)))


def _numbered(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, sorted, and the 32-bit index of each value among them: `np.unique` with
    `return_inverse`, in about half its memory (two sides of 5 million rows are far below 2**31 keys)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    del values
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    distinct = ordered[first]
    del ordered
    at = np.empty(len(order), dtype=np.int32)
    at[order] = np.cumsum(first, dtype=np.int32) - 1
    return distinct, at


def assign(edges: Edges, ids: np.ndarray, params: SplitParams) -> Assignment:
    """Splits rows by group: pinned groups keep their released split, the others follow their hash."""
    active = np.ones(len(edges.left), dtype=bool)
    while True:
        codes, pinned, conflicted, group_count = _assign_active(edges, ids, active, params)
        if not conflicted.any():
            codes[~active] = CROSS_SPLIT_LINK
            return Assignment(codes, pinned & active, group_count)
        active[_cross_split_links(edges.left, edges.right, edges.node_pin, np.flatnonzero(conflicted))] = False


# Rows whose split hash is computed at once: the hash needs several 64-bit temporaries per row.
_HASH_CHUNK_ROWS = 1 << 20


def _assign_active(
    edges: Edges, ids: np.ndarray, active: np.ndarray, params: SplitParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    nodes = len(edges.node_pin)
    everyone = bool(active.all())
    # Without withheld rows (the usual case) the full arrays are used as they are, not copied.
    rows = slice(None) if everyone else np.flatnonzero(active)
    left, right, active_ids = edges.left[rows], edges.right[rows], ids[rows]
    group = components(left, right, nodes)
    canonical = np.full(nodes, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(canonical, group, active_ids)
    del active_ids
    low = np.full(nodes, np.iinfo(np.int8).max, dtype=np.int8)
    high = np.full(nodes, UNPINNED, dtype=np.int8)
    for side in (left, right):
        side_pins = edges.node_pin[side]
        has_pin = side_pins != UNPINNED
        np.minimum.at(low, group[has_pin], side_pins[has_pin])
        np.maximum.at(high, group[has_pin], side_pins[has_pin])
    del left, right
    codes = np.full(len(edges.left), UNPINNED, dtype=np.int8)
    pinned = np.zeros(len(edges.left), dtype=bool)
    conflicted = np.zeros(len(edges.left), dtype=bool)
    group_low, group_high = low[group], high[group]
    free = group_high == UNPINNED
    hashed = np.empty(len(group), dtype=np.int8)
    for start in range(0, len(group), _HASH_CHUNK_ROWS):
        chunk = slice(start, start + _HASH_CHUNK_ROWS)
        hashed[chunk] = hashed_splits(canonical[group[chunk]], params.ratios, params.salt)
    codes[rows] = np.where(free, hashed, group_high)
    pinned[rows] = ~free
    conflicted[rows] = ~free & (group_low != group_high)
    # Each group's label node holds the group's smallest id; every other node keeps the initial maximum.
    return codes, pinned, conflicted, int(np.count_nonzero(canonical != np.iinfo(np.uint64).max))


def _cross_split_links(left: np.ndarray, right: np.ndarray, node_pin: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows of conflicting groups whose keys the released splits reach differently (breadth first from the pins)."""
    touching: dict[int, list[int]] = defaultdict(list)
    for row in rows.tolist():
        touching[int(left[row])].append(row)
        touching[int(right[row])].append(row)
    contested = -2
    label = {node: int(node_pin[node]) for node in touching if node_pin[node] != UNPINNED}
    frontier = sorted(label)
    while frontier:
        reached: dict[int, set[int]] = defaultdict(set)
        for node in frontier:
            if label[node] == contested:
                continue
            for row in touching[node]:
                other = int(right[row]) if int(left[row]) == node else int(left[row])
                if other not in label:
                    reached[other].add(label[node])
        for node, splits in reached.items():
            label[node] = splits.pop() if len(splits) == 1 else contested
        frontier = sorted(reached)
    return np.array(
        [
            row
            for row in rows.tolist()
            if (int(left[row]) in label or int(right[row]) in label)
            and (
                label.get(int(left[row])) != label.get(int(right[row]))
                or label.get(int(left[row])) == contested
            )
        ],
        dtype=np.int64,
    )


def _bucket_bits(path: Path) -> int:
    metadata = pq.ParquetFile(path).metadata
    size = sum(metadata.row_group(index).total_byte_size for index in range(metadata.num_row_groups))
    return max(0, math.ceil(math.log2(max(1.0, size * _KEYED_GROWTH / _BUCKET_BYTES))))


def _bucket_of(ids: np.ndarray, bits: int) -> np.ndarray:
    if bits == 0:
        return np.zeros(len(ids), dtype=np.int64)
    return (ids >> np.uint64(64 - bits)).astype(np.int64)


def _check_input(path: Path) -> int:
    if not path.is_file():
        raise StageError(f"{path}: no such file; run the validate stage first (dvc repro validate)")
    schema = pq.ParquetFile(path).schema_arrow
    missing = [name for name in INPUT_COLUMNS if name not in schema.names]
    if missing:
        raise StageError(f"{path}: missing columns {', '.join(missing)}; expected {', '.join(INPUT_COLUMNS)}")
    return pq.ParquetFile(path).metadata.num_rows


def split_file(source: Path, output: Path, rejects_path: Path, params: SplitParams) -> dict[str, object]:
    """Runs the stage from `source` to `output` and `rejects_path`; returns the metrics."""
    rows_in = _check_input(source)
    try:
        pins = pins_from(read_manifest(params.previous_manifest)) if params.previous_manifest else Pins.none()
    except ManifestError as exc:
        raise StageError(str(exc)) from None
    progress = Progress(STAGE, total=2 * rows_in)
    bits = _bucket_bits(source)
    with (staged_directory(output) as staging,
          tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{STAGE}-") as scratch,
          Workers(worker_count(params.workers)) as workers):
        collected: dict[str, list[np.ndarray]] = {"id": [], "english": [], "french": []}
        pieces: list[tuple[Path, list[list[tuple[int, int]]]]] = []
        for path, hashes, buckets in workers.map(partial(key_part, bits=bits), parts(source, Path(scratch))):
            for name, values in collected.items():
                values.append(getattr(hashes, name))
            pieces.append((path, buckets))
            progress.update(sum(map(len, collected["id"])))
        # Each field's parts are freed as soon as they are joined, and each array as soon as it is used.
        hashes = {name: np.concatenate(collected.pop(name) or [np.empty(0, np.uint64)]) for name in list(collected)}
        ids = hashes.pop("id")
        edges = Edges.of(hashes, pins)
        assignment = assign(edges, ids, params)
        del edges
        buckets = Buckets.of(ids, bits)
        del ids
        counts = {"released": np.zeros(len(SPLITS), dtype=np.int64), "duplicates": 0, "cross": 0, "pinned": 0}
        done = rows_in
        tasks = (Bucket(index, staging, [(path, parts_of[index]) for path, parts_of in pieces],
                        *buckets.assigned(index, assignment))
                 for index in range(1 << bits))
        with JsonlSink(rejects_path) as rejects:
            for resolved in workers.map(resolve_part, tasks):
                for report in resolved.reports:
                    rejects.write(report)
                counts["released"] += resolved.released
                counts["pinned"] += resolved.pinned
                counts["duplicates"] += sum(report["reasons"] == ["duplicate"] for report in resolved.reports)
                counts["cross"] += sum(report["reasons"] == ["cross_split_link"] for report in resolved.reports)
                done += resolved.rows
                progress.update(done)
    by_split = dict(zip(SPLITS, counts["released"].tolist(), strict=True))
    released_rows = sum(by_split.values())
    return {
        "rows_in": rows_in,
        "duplicates_merged": counts["duplicates"],
        "cross_split_links": counts["cross"],
        "rows_by_split": by_split,
        "groups": assignment.groups,
        "pinned": counts["pinned"],
        "ratio_deviation": {
            name: round(by_split[name] / released_rows - params.ratios[name], 4) if released_rows else 0.0
            for name in SPLITS
        },
    }


@dataclass(frozen=True)
class Buckets:
    """The id-range bucket of each input row."""

    of_row: np.ndarray

    @classmethod
    def of(cls, ids: np.ndarray, bits: int) -> Buckets:
        return cls(_bucket_of(ids, bits).astype(np.uint16 if bits <= 16 else np.uint32))

    def assigned(self, index: int, assignment: Assignment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The input positions of the bucket's rows (ascending), and their split codes and pinning."""
        rows = np.flatnonzero(self.of_row == index)
        return rows, assignment.codes[rows], assignment.pinned[rows]


@dataclass(frozen=True)
class Bucket:
    """What the second pass needs to resolve one bucket on any process: where its keyed rows are, and the split
    code and pinning of each of its input rows (`rows`, ascending)."""

    index: int
    output: Path
    pieces: list[tuple[Path, list[tuple[int, int]]]]
    rows: np.ndarray
    codes: np.ndarray
    pinned: np.ndarray

    def read(self) -> pa.Table:
        """The keyed rows of the bucket, in input order."""
        batches = []
        for path, messages in self.pieces:
            if messages:
                with pa.OSFile(str(path)) as file:
                    batches += [pa.ipc.read_record_batch(file.read_at(size, offset), _KEYED) for offset, size in messages]
        return pa.Table.from_batches(batches, _KEYED)


@dataclass(frozen=True)
class Resolved:
    """One resolved bucket: how many rows it had, the released count per split, how many of those were pinned, and
    its reports."""

    rows: int
    released: np.ndarray
    pinned: int
    reports: list[dict[str, object]]


def resolve_part(bucket: Bucket) -> Resolved:
    """Resolves one bucket and writes its released rows, sorted by id, as its part of the output."""
    keyed = bucket.read()
    released, released_rows, reports = resolve_bucket(keyed, bucket.rows, bucket.codes)
    at = np.searchsorted(bucket.rows, released_rows)
    with ParquetSink(bucket.output / f"part-{bucket.index:05d}.parquet", SCHEMA) as part:
        part.write(released)
    return Resolved(keyed.num_rows, np.bincount(bucket.codes[at], minlength=len(SPLITS)),
                    int(bucket.pinned[at].sum()), reports)


def resolve_bucket(bucket: pa.Table, rows: np.ndarray, codes_of_rows: np.ndarray
                   ) -> tuple[pa.Table, np.ndarray, list[dict[str, object]]]:
    """Keeps the first row of each id by (english, french, line) in its split; reports duplicates and links.

    `codes_of_rows[i]` is the split code of input row `rows[i]`. Returns the released rows sorted by id, their
    input positions, and the reports.
    """
    order = pc.sort_indices(
        bucket, sort_keys=[("id", "ascending"), ("english", "ascending"), ("french", "ascending"), ("line", "ascending")]
    ).to_numpy()
    # Only the id and row columns are put in order to decide; the text is gathered once, for the rows released.
    decided = bucket.select(["id", "row"]).take(order)
    codes = codes_of_rows[np.searchsorted(rows, decided["row"].to_numpy())]
    ids = decided["id"].combine_chunks()
    first = np.ones(len(ids), dtype=bool)
    first[1:] = pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)
    released = first & (codes != CROSS_SPLIT_LINK)
    kept = bucket.take(order[released])
    split = pc.take(pa.array(SPLITS, pa.string()), pa.array(codes[released].astype(np.int64)))
    table = pa.table({name: split if name == "split" else kept[name] for name in SCHEMA.names}).cast(SCHEMA)
    kept_at = np.maximum.accumulate(np.where(first, np.arange(len(ids)), 0))[~released]
    withheld = bucket.take(order[~released]).to_pylist()
    kept_rows = bucket.take(order[kept_at]).select(["line", "english", "french"]).to_pylist()
    reports = [
        _report(row, code, kept)
        for row, code, kept in zip(withheld, codes[~released].tolist(), kept_rows, strict=True)
    ]
    return table, kept["row"].to_numpy(), reports


def _report(row: dict[str, object], code: int, kept: dict[str, object]) -> dict[str, object]:
    base = {"line": row["line"], "stage": STAGE, "english": row["english"], "french": row["french"], "id": row["id"]}
    if code == CROSS_SPLIT_LINK:
        message = (
            "shares its English with a row released in one split and its French with a row released in another "
            "(directly or through other new rows); not released, so that no text appears in two splits"
        )
        return {**base, "reasons": ["cross_split_link"], "message": message, "merged_into": None}
    same = kept["english"] == row["english"] and kept["french"] == row["french"]
    how = "exact duplicate" if same else "duplicate after normalisation (case, spacing, punctuation variants)"
    message = f"{how} of line {kept['line']}, which is kept"
    return {**base, "reasons": ["duplicate"], "message": message, "merged_into": row["id"]}


def run(params: Params, paths: SplitPaths) -> str:
    progress = Progress(STAGE)
    metrics = split_file(paths.input, paths.output, paths.rejects, params.split)
    write_json(paths.metrics, metrics)
    by_split = ", ".join(f"{count:,} {name}" for name, count in metrics["rows_by_split"].items())  # type: ignore[union-attr]
    return (
        f"split: {metrics['rows_in']:,} rows in {progress.elapsed:.1f} s: {by_split} in {metrics['groups']:,} groups "
        f"({metrics['pinned']:,} pinned by the previous release); {metrics['duplicates_merged']:,} duplicates merged "
        f"and {metrics['cross_split_links']:,} cross-split links withheld, see {paths.rejects}."
    )


def main(argv: list[str] | None = None) -> int:
    # The workers allocate and free a batch's or a bucket's worth of memory again and again: jemalloc would return
    # it to the system each time and fault it back in, mimalloc keeps it (the README's performance section has the
    # figures), and the stage's peak stays under the memory budget.
    return process.stage_main(STAGE, run, SplitPaths, __doc__.splitlines()[0], argv, allocator="mimalloc")


if __name__ == "__main__":
    process.exit(main())

"""Build: reads the split table, the earlier stages' metrics, the card template and `split.previous_manifest`;
writes the dataset repo `build.output_dir` (shards, README.md, CITATION.cff, CHANGELOG.md, manifest.parquet), the
plots and the build metrics.

The folder is assembled beside its destination and replaces it only once the card has passed the Hub's metadata
rules and `datasets` has loaded the folder back with the same splits, features, counts and content.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Arrow reads its allocator when it is first imported: a stage run as a program chooses it first.
    from pipeline import process

    process.prologue("jemalloc")

import csv
import hashlib
import math
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import changelog, process
from pipeline.io import (
    ParquetSink,
    Progress,
    StageError,
    WriteBehind,
    atomic_path,
    parquet_reader,
    read_batches,
    read_json,
    staged_directory,
    table_files,
    write_json,
)
from pipeline.parallel import Workers
from schema.card import LICENSE, CardFacts, Example, LengthStats, QualityFacts, SplitFacts, check_template, dump_yaml
from schema.manifest import MANIFEST_FILE, ManifestError, build_manifest, read_manifest
from schema.manifest import SCHEMA as MANIFEST_SCHEMA
from schema.params import SPLITS, BuildParams, Params
from schema.release import SCHEMA as SHARD_SCHEMA
from schema.release import datasets_features

STAGE = "build"


@dataclass(frozen=True)
class BuildPaths:
    """What build reads and writes besides `build.output_dir`, as `dvc.yaml` names it."""

    input: Path
    template: Path
    ingest_metrics: Path
    validate_metrics: Path
    split_metrics: Path
    english_lengths: Path
    french_lengths: Path
    length_ratio: Path
    metrics: Path


INPUT_COLUMNS = [
    "id",
    "split",
    "source",
    "line",
    "english",
    "french",
    "flags",
    "english_key_sha256",
    "french_key_sha256",
    "content_sha256",
]
# Rows read from the split table at a time: with the manifest's writes in flight, larger batches raise the pass's
# peak memory without making it faster.
_BATCH_ROWS = 16_384
# Rows read at a time when counting the rows of each split: the split column alone is small.
_COUNT_BATCH_ROWS = 1 << 20
_RELEASED_COLUMNS = ["id", "source", "line", "english", "french", "flags"]

# Histogram bins of the DVC plots: pairs longer than the last bound share the last bin.
_LENGTH_BIN_CHARS = 20
_LENGTH_BINS = 100
_RATIO_BIN = 0.05
_RATIO_BINS = 60
# The card's example: the first training pair, by id, with no flag and sides of readable length.
_EXAMPLE_CHARS = (60, 400)
# The quantile of the lengths that the card's `p95` column gives.
_P95 = 0.95


class ContentDigest:
    """sha256 of a split's ids and texts in row order; the same whichever way the rows are cut into batches."""

    _PARTS = ("id", "en", "fr")
    # Texts are hashed as large strings, whose offsets are 64-bit.
    _OFFSET = np.dtype(np.int64)

    def __init__(self) -> None:
        self._values = {name: hashlib.sha256() for name in self._PARTS}
        self._lengths = {name: hashlib.sha256() for name in self._PARTS}

    def update(
        self, ids: pa.Array | pa.ChunkedArray, english: pa.Array | pa.ChunkedArray, french: pa.Array | pa.ChunkedArray
    ) -> None:
        for name, column in zip(self._PARTS, (ids, english, french), strict=True):
            for piece in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
                chunk = piece.cast(pa.large_string())
                if chunk.null_count:
                    raise StageError(f"{name}: {chunk.null_count} null values where text is required")
                offsets = np.frombuffer(
                    chunk.buffers()[1],
                    dtype=self._OFFSET,
                    count=len(chunk) + 1,
                    offset=chunk.offset * self._OFFSET.itemsize,
                )
                data = chunk.buffers()[2]
                if data is not None:
                    self._values[name].update(memoryview(data)[offsets[0] : offsets[-1]])
                self._lengths[name].update(np.diff(offsets).astype("<i8").tobytes())

    def hexdigest(self) -> str:
        whole = hashlib.sha256()
        for name in self._PARTS:
            whole.update(self._values[name].digest() + self._lengths[name].digest())
        return whole.hexdigest()


def released_digest(parts: Iterable[pa.RecordBatch | pa.Table]) -> tuple[int, str]:
    """Rows and `ContentDigest` of one split read back in released form (`id`, `translation`), as the release was
    built: verification by build and by publish compares these."""
    digest, rows = ContentDigest(), 0
    for part in parts:
        translation = part.column("translation")
        digest.update(part.column("id"), pc.struct_field(translation, "en"), pc.struct_field(translation, "fr"))
        rows += part.num_rows
    return rows, digest.hexdigest()


class LengthCounts:
    """Exact distribution of one side's lengths in characters: a count per length, so that memory follows the
    longest text, not the number of rows."""

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.int64)

    def update(self, lengths: np.ndarray) -> None:
        self.update_counts(np.bincount(lengths, minlength=len(self.counts)))

    def update_counts(self, counts: np.ndarray | LengthCounts) -> None:
        """Adds counts per length: an array, or another distribution's."""
        counts = (counts.counts if isinstance(counts, LengthCounts) else counts).copy()
        if len(counts) < len(self.counts):
            counts.resize(len(self.counts))
        counts[: len(self.counts)] += self.counts
        self.counts = counts

    @property
    def total(self) -> int:
        return int(np.dot(np.arange(len(self.counts)), self.counts))

    def stats(self) -> LengthStats:
        rows = int(self.counts.sum())
        if not rows:
            return LengthStats(mean=0.0, median=0, p95=0, max=0)
        cumulative = np.cumsum(self.counts)
        return LengthStats(
            mean=round(self.total / rows, 1),
            median=int(np.searchsorted(cumulative, (rows + 1) // 2)),
            p95=int(np.searchsorted(cumulative, math.ceil(_P95 * rows))),
            max=int(np.flatnonzero(self.counts)[-1]),
        )

    def histogram(self) -> np.ndarray:
        """Rows per plot bin of `_LENGTH_BIN_CHARS` characters, the last bin holding every longer text."""
        bins = np.minimum(np.arange(len(self.counts)) // _LENGTH_BIN_CHARS, _LENGTH_BINS - 1)
        return np.bincount(bins, weights=self.counts, minlength=_LENGTH_BINS).astype(np.int64)


@dataclass
class ShardFacts:
    """What one shard holds, gathered while it is written: its rows, their size in memory, the distributions of
    their lengths, and its rows per raw file."""

    split: str
    path: Path
    rows: int = 0
    num_bytes: int = 0
    english: LengthCounts = field(default_factory=LengthCounts)
    french: LengthCounts = field(default_factory=LengthCounts)
    ratios: np.ndarray = field(default_factory=lambda: np.zeros(_RATIO_BINS, dtype=np.int64))
    by_source: Counter[str] = field(default_factory=Counter)

    def add(self, rows: pa.Table) -> None:
        for entry in pc.value_counts(rows["source"]).to_pylist():
            self.by_source[entry["values"]] += entry["counts"]
        english = pc.utf8_length(rows["english"]).to_numpy().astype(np.int64)
        french = pc.utf8_length(rows["french"]).to_numpy().astype(np.int64)
        self.english.update(english)
        self.french.update(french)
        ratio_bins = np.minimum((french / np.maximum(english, 1) / _RATIO_BIN).astype(np.int64), _RATIO_BINS - 1)
        self.ratios += np.bincount(ratio_bins, minlength=_RATIO_BINS)


@dataclass
class SplitSummary:
    """What one split's shards hold, added up shard by shard, and its content digest."""

    name: str
    rows: int = 0
    num_bytes: int = 0
    files: list[Path] = field(default_factory=list)
    english: LengthCounts = field(default_factory=LengthCounts)
    french: LengthCounts = field(default_factory=LengthCounts)
    ratios: np.ndarray = field(default_factory=lambda: np.zeros(_RATIO_BINS, dtype=np.int64))
    by_source: Counter[str] = field(default_factory=Counter)
    digest: str = ""

    def add(self, shard: ShardFacts) -> None:
        self.rows += shard.rows
        self.num_bytes += shard.num_bytes
        self.files.append(shard.path)
        self.english.update_counts(shard.english)
        self.french.update_counts(shard.french)
        self.ratios += shard.ratios
        self.by_source += shard.by_source

    def facts(self) -> SplitFacts:
        english = self.english.total
        return SplitFacts(
            name=self.name,
            rows=self.rows,
            num_bytes=self.num_bytes,
            download_bytes=sum(path.stat().st_size for path in self.files),
            shards=len(self.files),
            english=self.english.stats(),
            french=self.french.stats(),
            french_english_ratio=round(self.french.total / english, 3) if english else 0.0,
        )


def shard_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Split-table rows as released rows: `id`, `translation` {en, fr}, `source`, `line`, `flags`."""
    translation = pa.StructArray.from_arrays(
        [batch["english"], batch["french"]], fields=list(SHARD_SCHEMA.field("translation").type)
    )
    return pa.record_batch(
        [batch["id"], translation, batch["source"], batch["line"], batch["flags"]], schema=SHARD_SCHEMA
    )


@dataclass(frozen=True)
class Shard:
    """One shard, for any worker to write: `data/<split>-NNNNN-of-MMMMM.parquet` under the release folder, holding
    the split's rows that `pieces` name, each a file of the split table, how many of the split's rows in it come
    before the shard's, and how many of them are the shard's."""

    split: str
    path: Path
    pieces: tuple[tuple[Path, int, int], ...]
    params: BuildParams

    def rows(self) -> Iterator[pa.RecordBatch]:
        for file, skip, take in self.pieces:
            for batch in parquet_reader(file).iter_batches(_BATCH_ROWS, columns=["split", *_RELEASED_COLUMNS]):
                mine = batch.filter(pc.equal(batch["split"], self.split)).select(_RELEASED_COLUMNS)
                window = mine.slice(min(skip, mine.num_rows), take)
                skip, take = max(0, skip - mine.num_rows), take - window.num_rows
                if window.num_rows:
                    yield window
                if not take:
                    break


def write_shard(shard: Shard) -> ShardFacts:
    """Writes one shard in row groups of `build.row_group_rows` and returns what it holds. The page index lets
    readers skip pages. Content-defined pages, which `datasets` writes Hub shards with so that the Hub's storage can
    keep the pages of unchanged rows, are left out: rows are in id order, so a release that adds rows puts new ones
    in nearly every page and none would be kept, while the smaller pages made the shards larger and the build
    slower."""
    facts = ShardFacts(shard.split, shard.path)
    rows = pa.Table.from_batches(list(shard.rows()))
    facts.add(rows)
    released = pa.Table.from_batches([shard_batch(batch) for batch in rows.to_batches()], SHARD_SCHEMA)
    group_rows = shard.params.row_group_rows
    with ParquetSink(
        shard.path,
        SHARD_SCHEMA,
        row_group_rows=group_rows,
        compression="zstd",
        compression_level=shard.params.compression_level,
        write_page_index=True,
    ) as sink:
        for start in range(0, released.num_rows, group_rows):
            # Copied into new arrays, so that the group's `nbytes` (the card's `num_bytes`) depends on its rows
            # alone, not on how they were cut into batches on the way.
            group = released.slice(start, group_rows)
            group = pa.Table.from_arrays(
                [pa.concat_arrays(column.chunks) for column in group.columns], schema=SHARD_SCHEMA
            )
            sink.write(group)
            facts.num_bytes += group.nbytes
    facts.rows = released.num_rows
    return facts


def shards_of(split: str, parts: list[tuple[Path, dict[str, int]]], folder: Path, params: BuildParams) -> list[Shard]:
    """The shards of `split`, in order: `parts` has each file of the split table with its rows per split."""
    total = sum(counts[split] for _, counts in parts)
    count = max(1, math.ceil(total / params.shard_rows))
    shards = []
    for index in range(count):
        first, last = index * params.shard_rows, min(total, (index + 1) * params.shard_rows)
        pieces, before = [], 0
        for file, counts in parts:
            rows = counts[split]
            if before < last and before + rows > first:
                skip = max(0, first - before)
                pieces.append((file, skip, min(rows, last - before) - skip))
            before += rows
        path = folder / "data" / f"{split}-{index:05d}-of-{count:05d}.parquet"
        shards.append(Shard(split, path, tuple(pieces), params))
    return shards


def _rows_by_split(path: Path) -> list[tuple[Path, dict[str, int]]]:
    """Each file of the split table (an absolute path), with its rows per split."""
    found = []
    for file in table_files(path):
        counts = dict.fromkeys(SPLITS, 0)
        for batch in parquet_reader(file).iter_batches(_COUNT_BATCH_ROWS, columns=["split"]):
            for entry in pc.value_counts(batch["split"]).to_pylist():
                if entry["values"] not in counts:
                    raise StageError(f"{path}: unknown split {entry['values']!r}; expected {', '.join(SPLITS)}")
                counts[entry["values"]] += entry["counts"]
        found.append((file.resolve(), counts))
    return found


def _example(batch: pa.RecordBatch, readable: bool) -> Example | None:
    """The batch's first row, or with `readable` its first training row fit to show (see `_EXAMPLE_CHARS`)."""
    if readable:
        english_length = pc.utf8_length(batch["english"])
        batch = batch.filter(
            pc.and_(
                pc.and_(pc.equal(batch["split"], "train"), pc.equal(pc.list_value_length(batch["flags"]), 0)),
                pc.and_(
                    pc.greater_equal(english_length, _EXAMPLE_CHARS[0]),
                    pc.less_equal(english_length, _EXAMPLE_CHARS[1]),
                ),
            )
        )
    if not batch.num_rows:
        return None
    row = batch.slice(0, 1).to_pylist()[0]
    return Example(
        id=row["id"],
        split=row["split"],
        source=row["source"],
        line=row["line"],
        english=row["english"],
        french=row["french"],
        flags=row["flags"],
    )


@dataclass(frozen=True)
class ManifestPass:
    """The one pass over the whole split table, in id order, for a worker: it writes `manifest.parquet` to the
    release folder, and takes what needs the rows in order, each split's content digest and the card's example."""

    source: Path
    folder: Path
    splits: tuple[str, ...]
    params: BuildParams
    version: str


@dataclass(frozen=True)
class InOrder:
    """What the manifest pass found: each split's content digest, and the card's example."""

    digests: dict[str, str]
    example: Example | None


def write_manifest(task: ManifestPass) -> InOrder:
    digests = {name: ContentDigest() for name in task.splits}
    example: Example | None = None
    first: Example | None = None
    schema = MANIFEST_SCHEMA.with_metadata({changelog.VERSION_METADATA: task.version.encode()})
    # The manifest is compressed on a thread of its own while the next batch is read and hashed.
    with (
        ParquetSink(
            task.folder / MANIFEST_FILE, schema, compression="zstd", compression_level=task.params.compression_level
        ) as manifest,
        WriteBehind() as writes,
    ):
        for batch in read_batches(task.source, _BATCH_ROWS, INPUT_COLUMNS):
            writes(manifest.write, build_manifest(batch).replace_schema_metadata(schema.metadata))
            example = example or _example(batch, readable=True)
            first = first or _example(batch, readable=False)
            for name, digest in digests.items():
                part = batch.filter(pc.equal(batch["split"], name))
                if part.num_rows:
                    digest.update(part["id"], part["english"], part["french"])
    return InOrder({name: digest.hexdigest() for name, digest in digests.items()}, example or first)


@dataclass
class Written:
    summaries: dict[str, SplitSummary]
    example: Example


def write_release(source: Path, folder: Path, params: BuildParams, version: str, workers: Workers) -> Written:
    """Writes the shards and the manifest of the split table `source` under `folder`, on `workers`: each shard is a
    task, and the manifest pass runs beside them."""
    parts = _rows_by_split(source)
    # A split with no rows is left out of the release: `datasets` refuses to load an empty split.
    released = [name for name in SPLITS if any(counts[name] for _, counts in parts)]
    summaries = {name: SplitSummary(name) for name in released}
    progress = Progress(STAGE, total=sum(sum(counts.values()) for _, counts in parts))
    folder = folder.resolve()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    in_order = workers.submit(write_manifest, ManifestPass(source.resolve(), folder, tuple(released), params, version))
    shards = [shard for name in released for shard in shards_of(name, parts, folder, params)]
    for shard in workers.map(write_shard, shards):
        summaries[shard.split].add(shard)
        progress.update(sum(summary.rows for summary in summaries.values()))
    found = workers.result(in_order)
    if found.example is None:
        raise StageError(f"{source}: no rows to release; check metrics/validate.json and metrics/split.json")
    for name, summary in summaries.items():
        summary.digest = found.digests[name]
    return Written(summaries, found.example)


def _quality(paths: BuildPaths) -> QualityFacts:
    try:
        ingest, validate, split = (
            read_json(path) for path in (paths.ingest_metrics, paths.validate_metrics, paths.split_metrics)
        )
        return QualityFacts(
            records=ingest["records"],
            ingest_rejected=ingest["rejected"],
            validate_rejected=validate["rejected"],
            ingest_rejected_by_reason=ingest["rejected_by_reason"],
            validate_rejected_by_reason=validate["rejected_by_reason"],
            flagged_by_reason=validate["flagged_by_reason"],
            duplicates_merged=split["duplicates_merged"],
            cross_split_links=split["cross_split_links"],
            pinned=split["pinned"],
            misaligned=validate.get("misaligned"),
        )
    except FileNotFoundError as exc:
        raise StageError(f"{exc.filename}: missing; run the earlier stages first (dvc repro)") from None
    except KeyError as exc:
        raise StageError(f"metrics of an earlier stage lack {exc}; rerun it (dvc repro --force <stage>)") from None


def _previous(params: Params) -> tuple[pa.Table | None, str | None]:
    path = params.split.previous_manifest
    if path is None:
        return None, None
    try:
        table = pa.Table.from_batches(list(read_manifest(path)))
    except ManifestError as exc:
        raise StageError(str(exc)) from None
    return table, changelog.read_version(path)


def _check_accounts(facts: CardFacts) -> None:
    """The card says every record is accounted for; this makes it true or stops the build."""
    quality = facts.quality
    accounted = (
        facts.rows
        + quality.ingest_rejected
        + quality.validate_rejected
        + quality.duplicates_merged
        + quality.cross_split_links
    )
    if accounted != quality.records:
        raise StageError(
            f"{quality.records:,} records were read but {accounted:,} are accounted for ({facts.rows:,} "
            "released + rejected + merged + held back): the metrics are from different runs; run "
            "dvc repro from ingest"
        )


def _check_accounts_by_source(paths: BuildPaths, released: Counter[str]) -> None:
    """Every record of each raw file is accounted for too, from the earlier stages' counts per file; stops the
    build otherwise."""
    try:
        ingest, validate, split = (
            read_json(path) for path in (paths.ingest_metrics, paths.validate_metrics, paths.split_metrics)
        )
        files, rejected, not_released = ingest["files"], validate["rejected_by_source"], split["not_released_by_source"]
    except KeyError as exc:
        raise StageError(f"metrics of an earlier stage lack {exc}; rerun it (dvc repro --force <stage>)") from None
    for source, counts in files.items():
        accounted = (
            released[source] + counts["rejected"] + rejected.get(source, 0) + sum(not_released.get(source, {}).values())
        )
        if accounted != counts["records"]:
            raise StageError(
                f"{source}: {counts['records']:,} records were read but {accounted:,} are accounted for: the metrics "
                "are from different runs; run dvc repro from ingest"
            )


def check_card(readme: str) -> None:
    """Raises StageError unless the card's metadata parses as the Hub parses it and uses the Hub's vocabularies."""
    from huggingface_hub import DatasetCard

    from localhub.cardcheck import validate

    card = DatasetCard(readme)
    metadata = card.data.to_dict()
    errors, _ = validate(readme, "dataset")
    if metadata.get("license") != LICENSE or "translation" not in (metadata.get("task_categories") or []):
        errors.append("license or task_categories did not survive parsing by huggingface_hub")
    if "!!python" in readme.split("\n---\n", 1)[0]:
        errors.append("front matter has Python-specific YAML tags, which the Hub rejects")
    if errors:
        raise StageError("the rendered card breaks the Hub's metadata rules:\n" + "\n".join(f"  {e}" for e in errors))


def verify(folder: Path, summaries: dict[str, SplitSummary]) -> None:
    """Loads `folder` with `datasets` as a consumer would, and compares it with what was written. The folder is
    streamed an Arrow batch at a time rather than copied into a cache, so memory does not grow with the rows."""
    import datasets

    datasets.disable_progress_bars()
    expected_features = datasets_features()
    with tempfile.TemporaryDirectory(prefix="build-verify-") as cache:
        loaded = datasets.load_dataset(str(folder), streaming=True, cache_dir=cache)
        problems = []
        if set(loaded) != set(summaries):
            problems.append(f"splits {sorted(loaded)} instead of {list(summaries)}")
        for name, split in loaded.items():
            if split.features != expected_features:
                problems.append(f"{name}: features {split.features} instead of {expected_features}")
                continue
            summary = summaries[name]
            rows, digest = released_digest(split.with_format("arrow").iter(batch_size=_BATCH_ROWS))
            if rows != summary.rows:
                problems.append(f"{name}: {rows} rows instead of {summary.rows}")
            if digest != summary.digest:
                problems.append(f"{name}: content differs from the split table (ids or texts changed on the way)")
    if problems:
        raise StageError(f"{folder}: loading it back with datasets gave " + "; ".join(problems))


def write_plots(summaries: dict[str, SplitSummary], paths: BuildPaths) -> list[Path]:
    """Length and ratio distributions per split, as shares of the split's rows in percent."""

    def shares(counts: np.ndarray) -> list[str]:
        total = counts.sum()
        return [f"{100 * count / total:.3f}" if total else "0" for count in counts.tolist()]

    tables = {
        paths.english_lengths: (
            "chars",
            [i * _LENGTH_BIN_CHARS for i in range(_LENGTH_BINS)],
            {name: s.english.histogram() for name, s in summaries.items()},
        ),
        paths.french_lengths: (
            "chars",
            [i * _LENGTH_BIN_CHARS for i in range(_LENGTH_BINS)],
            {name: s.french.histogram() for name, s in summaries.items()},
        ),
        paths.length_ratio: (
            "french_english_ratio",
            [round(i * _RATIO_BIN, 2) for i in range(_RATIO_BINS)],
            {name: s.ratios for name, s in summaries.items()},
        ),
    }
    for path, (x, bins, by_split) in tables.items():
        columns = {name: shares(counts) for name, counts in by_split.items()}
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([x, *columns])
            writer.writerows([bound, *(column[i] for column in columns.values())] for i, bound in enumerate(bins))
    return list(tables)


def build(params: Params, paths: BuildPaths) -> dict[str, Any]:
    """Runs the stage; returns the metrics."""
    source, template_path = paths.input, paths.template
    template = template_path.read_text(encoding="utf-8")
    try:
        check_template(template)
    except ValueError as exc:
        raise StageError(f"{template_path}: {exc}") from None
    if not source.exists() or not table_files(source):
        raise StageError(f"{source}: no such table; run the split stage first (dvc repro split)")
    missing = [name for name in INPUT_COLUMNS if name not in pq.read_schema(table_files(source)[0]).names]
    if missing:
        raise StageError(f"{source}: missing columns {', '.join(missing)}; expected {', '.join(INPUT_COLUMNS)}")
    quality = _quality(paths)
    previous, previous_version = _previous(params)
    with staged_directory(params.build.output_dir) as staging:
        with Workers(params.engine) as workers:
            written = write_release(source, staging, params.build, params.release.version, workers)
        if previous is None:
            # Every row of a first release is added, and the shards have counted them by split: reading the
            # manifest's split column back into Python objects would cost memory in proportion to the rows.
            added = {name: summary.rows for name, summary in written.summaries.items()}
            changes = changelog.Changes(first_release=True, rows=sum(added.values()), previous_rows=0, added=added)
        else:
            changes = changelog.diff(previous, pq.read_table(staging / MANIFEST_FILE))
        changes_markdown = changelog.render_markdown(changes, previous_version, params.release.version)
        facts = CardFacts(
            pretty_name=params.build.pretty_name,
            repo_id=params.hub.repo_id,
            version=params.release.version,
            date=params.release.date,
            splits=[summary.facts() for summary in written.summaries.values()],
            example=written.example,
            quality=quality,
            split_ratios=dict(params.split.ratios),
            previous_version=previous_version,
            changes_markdown=changelog.render_markdown(changes, previous_version, params.release.version, level=3),
            required_bump=changes.required_bump(),
        )
        _check_accounts(facts)
        released_by_source = sum((summary.by_source for summary in written.summaries.values()), Counter())
        _check_accounts_by_source(paths, released_by_source)
        readme = facts.render(template)
        check_card(readme)
        (staging / "README.md").write_text(readme, encoding="utf-8")
        (staging / "CITATION.cff").write_text(dump_yaml(facts.citation_cff()), encoding="utf-8")
        (staging / "CHANGELOG.md").write_text(f"# Changelog\n\n{changes_markdown}", encoding="utf-8")
        if params.build.verify:
            verify(staging, written.summaries)
    write_plots(written.summaries, paths)
    return {
        "rows": facts.rows,
        "rows_by_split": {split.name: split.rows for split in facts.splits},
        "num_bytes_by_split": {split.name: split.num_bytes for split in facts.splits},
        "download_bytes_by_split": {split.name: split.download_bytes for split in facts.splits},
        "shards_by_split": {split.name: split.shards for split in facts.splits},
        "content_sha256_by_split": {name: summary.digest for name, summary in written.summaries.items()},
        "rows_by_source": dict(sorted(released_by_source.items())),
        "version": params.release.version,
        "required_bump": changes.required_bump(),
        "verified": params.build.verify,
    }


def run(params: Params, paths: BuildPaths) -> str:
    progress = Progress(STAGE)
    metrics = build(params, paths)
    write_json(paths.metrics, metrics)
    by_split = ", ".join(f"{count:,} {name}" for name, count in metrics["rows_by_split"].items())
    check = "loaded back with datasets and matched" if metrics["verified"] else "not loaded back (build.verify is off)"
    return (
        f"build: {metrics['rows']:,} rows ({by_split}) written to {params.build.output_dir} in "
        f"{progress.elapsed:.1f} s, {check}; release v{metrics['version']} "
        f"(at least a {metrics['required_bump']} bump)."
    )


def main(argv: list[str] | None = None) -> int:
    # `datasets`, which loads the release back, works through pandas.
    return process.stage_main(STAGE, run, BuildPaths, __doc__.splitlines()[0], argv, refused=())


if __name__ == "__main__":
    process.exit(main())

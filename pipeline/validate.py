"""Validate: reads the ingested rows; writes the validated rows, the validate rejects and the validate metrics.

Both sides are normalised once (`schema.pair.normalize`), every rule of `pipeline.rules` runs over the batch, and
each row is kept (with the codes of its `flag` rules) or rejected with the codes and messages of all its `reject`
rules. Kept rows are then checked against the `Pair` model, so the output contract holds whatever the params say.
Rules that learn from the corpus (`misaligned`) learn first, once, from a sample of the rows the other rules keep,
so that every batch is judged alike.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Arrow reads its allocator when it is first imported: a stage run as a program chooses it first.
    from pipeline import process

    process.prologue("jemalloc")

import gc
import multiprocessing
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import process
from pipeline.io import JsonlSink, ParquetSink, Progress, StageError, read_json, read_sample, write_json
from pipeline.parallel import Part, Workers, parts
from pipeline.rules import RULES, LearningRule, Rule
from pipeline.scratch import Scratch
from schema.pair import MAYBE_UNNORMALIZED, SCHEMA, normalize
from schema.pair import contract_breaks as contract_breaks_of
from schema.params import Params, ValidateParams
from schema.reject import Reject

STAGE = "validate"


@dataclass(frozen=True)
class ValidatePaths:
    """What validate reads and writes, as `dvc.yaml` names it."""

    input: Path
    ingest_metrics: Path
    output: Path
    rejects: Path
    metrics: Path


# A kept row that the Pair model refuses: only possible when a rule guarding the contract is set to `off`.
SCHEMA_REASON = "schema"
# Rejects the summary shows as examples, and reasons it names when the reject rate stops the stage.
_EXAMPLES = 3
_TOP_REASONS = 3
# Digits of `reject_rate` in the metrics.
_RATE_DIGITS = 6
# The columns of an ingested row that its reject line repeats.
_INGESTED = ["source", "line", "english", "french"]


def _active(rules: tuple[Rule, ...], params: ValidateParams, action: str) -> list[Rule]:
    return [rule for rule in rules if getattr(params.rules, rule.reason) == action]


def learners(params: ValidateParams) -> list[LearningRule]:
    """The learning rules of the catalogue that are not off."""
    return [rule for rule in RULES if isinstance(rule, LearningRule) and getattr(params.rules, rule.reason) != "off"]


def learned(sample: pa.Table, params: ValidateParams) -> tuple[Rule, ...]:
    """The catalogue, each active learning rule having learned from the rows of `sample` the other rules keep."""
    if not learners(params):
        return RULES
    return _taught(*_kept_pairs(sample, params), params)


def learned_from_input(source: Path, params: ValidateParams) -> tuple[Rule, ...]:
    """`learned` from a sample of the input (`read_sample`), in which neighbouring rows stay together, as the
    misalignments a learning rule must recognise are shifts between neighbours. A forked helper process reads and
    validates the sample while the learning rules load what they need (`LearningRule.prepare`): each takes a good
    share of a second on one core, and the stage's workers wait for the rules. Like the workers (`Workers`), the
    helper leaves the objects it inherits out of its collections."""
    if not learners(params):
        return RULES
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=gc.freeze) as helper:
        kept = helper.submit(_kept_sample, source, params)
        rows = pq.ParquetFile(source).metadata.num_rows
        for rule in learners(params):
            rule.prepare(rows, params)
        english, french = kept.result()
    return _taught(english, french, params)


def _kept_pairs(sample: pa.Table, params: ValidateParams) -> tuple[pa.Array, pa.Array]:
    """The two sides of the rows of `sample` that the rules which do not learn keep, one array each."""
    # The sample is validated as one batch: a rule's cost per call is much more than its cost per row at this size.
    kept = [validate_batch(batch, params)[0] for batch in sample.combine_chunks().to_batches()]
    pairs = pa.Table.from_batches(kept, schema=SCHEMA)
    return pairs.column("english").combine_chunks(), pairs.column("french").combine_chunks()


def _kept_sample(source: Path, params: ValidateParams) -> tuple[pa.Array, pa.Array]:
    return _kept_pairs(read_sample(source, params.misaligned_sample_rows), params)


def _taught(english: pa.Array, french: pa.Array, params: ValidateParams) -> tuple[Rule, ...]:
    taught = {rule.reason: rule.learn(english, french, params) for rule in learners(params)}
    return tuple(taught.get(rule.reason, rule) for rule in RULES)


def _filled(rows: int, value: int | bool, type_: pa.DataType) -> pa.Array:
    return pc.fill_null(pa.nulls(rows, type_), pa.scalar(value, type_))


def _per_row(columns: list[pa.Array], rows: int) -> pa.ListArray:
    """Row i's list holds the non-null values of columns[0][i], columns[1][i], ... in column order."""
    width = len(columns)
    if not width:
        return pa.ListArray.from_arrays(_filled(rows + 1, 0, pa.int32()), pa.array([], pa.string()))
    position = pc.subtract(pc.cumulative_sum(_filled(rows * width, 1, pa.int64())), 1)
    row = pc.divide(position, width)
    column = pc.subtract(position, pc.multiply(row, width))
    values = pa.concat_arrays(columns).take(pc.add(pc.multiply(column, rows), row))
    counts = _filled(rows, 0, pa.int32())
    for fired in columns:
        counts = pc.add(counts, pc.cast(pc.is_valid(fired), pa.int32()))
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(counts)])
    return pa.ListArray.from_arrays(offsets, values.drop_null())


def screen_of(rules: list[Rule]) -> str | None:
    """The `screen` patterns of `rules` as one pattern, or None if none has one."""
    patterns = [rule.screen for rule in rules if rule.screen]
    return "|".join(f"(?:{pattern})" for pattern in patterns) if patterns else None


def checks(
    rules: list[Rule], english: pa.Array, french: pa.Array, params: ValidateParams, suspects: pa.Array | None = None
) -> list[pa.Array]:
    """`rule.check` of each rule on the batch; the rules with a `screen` pattern run only on the rows where a side
    matches one of those patterns (`suspects`, or else found in one scan of each side), and are null elsewhere as
    they would be. `suspects` may hold more rows than that, never fewer."""
    screened = [rule for rule in rules if rule.screen]
    found: dict[str, pa.Array] = {}
    if screened:
        if suspects is None:
            pattern = screen_of(screened)
            suspects = pc.or_(pc.match_substring_regex(english, pattern), pc.match_substring_regex(french, pattern))
        suspects = pc.fill_null(suspects, False)
        rows = pc.indices_nonzero(suspects)
        # Where each row's result sits among the suspects' results, null for the others.
        positions = pc.subtract(pc.cumulative_sum(pc.cast(suspects, pa.int64())), 1)
        spread = pc.if_else(suspects, positions, pa.scalar(None, pa.int64()))
        english_suspects, french_suspects = english.take(rows), french.take(rows)
        found = {rule.reason: rule.check(english_suspects, french_suspects, params).take(spread) for rule in screened}
    return [found[rule.reason] if rule.reason in found else rule.check(english, french, params) for rule in rules]


def validate_batch(
    batch: pa.RecordBatch, params: ValidateParams, rules: tuple[Rule, ...] = RULES
) -> tuple[pa.RecordBatch, list[dict[str, Any]]]:
    """Splits one ingested batch into validated rows (`schema.pair.SCHEMA`) and reject records. A learning rule
    that has not learned (as in `RULES`) fires on no row."""
    rejecting, flagging = _active(rules, params, "reject"), _active(rules, params, "flag")
    active_screen = screen_of(rejecting + flagging)
    english, english_suspects = _normalized(batch.column("english"), active_screen)
    french, french_suspects = _normalized(batch.column("french"), active_screen)
    results = checks(rejecting + flagging, english, french, params, pc.or_(english_suspects, french_suspects))
    rejected_by, flagged_by = results[: len(rejecting)], results[len(rejecting) :]
    rejected = _filled(batch.num_rows, False, pa.bool_())
    for fired in rejected_by:
        rejected = pc.or_(rejected, pc.is_valid(fired))

    kept = pc.invert(rejected)
    flags = _per_row(flagged_by, batch.num_rows)
    candidates = pa.record_batch(
        [batch.column("source"), batch.column("line"), english, french, flags],
        names=["source", "line", "english", "french", "flags"],
    ).filter(kept)
    contract_breaks = contract_breaks_of(candidates)

    explained = _explanations(english, french, rejecting, rejected_by, params)
    rejected_rows = sorted(explained)
    rejects = [
        _reject(row, explained[index])
        for index, row in zip(rejected_rows, _as_ingested(batch, flags, rejected_rows), strict=True)
    ]
    if contract_breaks:
        kept_index = pc.indices_nonzero(kept).to_pylist()
        broken = [kept_index[position] for position in contract_breaks]
        for row, message in zip(_as_ingested(batch, flags, broken), contract_breaks.values(), strict=True):
            rejects.append(_reject(row, [(SCHEMA_REASON, message)]))
        rejects.sort(key=lambda reject: (reject["source"], reject["line"]))
        keep = pa.array([position not in contract_breaks for position in range(candidates.num_rows)])
        candidates = candidates.filter(keep)
    return pa.RecordBatch.from_arrays(candidates.columns, schema=SCHEMA), rejects


def _normalized(texts: pa.Array, screen: str | None) -> tuple[pa.Array, pa.Array]:
    """One side normalised (`schema.pair.normalize`), and the rows where it may match `screen`, both from one scan
    of the side as read: a scan costs the same whatever the pattern, and a text that normalising changes is one
    that the scan found, so a text that matches `screen` once normalised matched it, or was found, before."""
    pattern = MAYBE_UNNORMALIZED if screen is None else f"{MAYBE_UNNORMALIZED}|{screen}"
    found = pc.fill_null(pc.match_substring_regex(texts, pattern), False)
    return normalize(texts, found), found


def _explanations(
    english: pa.Array, french: pa.Array, rejecting: list[Rule], rejected_by: list[pa.Array], params: ValidateParams
) -> dict[int, list[tuple[str, str]]]:
    """Row index → (reason, explanation) of every rule that rejected it, each rule explaining its rows at once."""
    explained: dict[int, list[tuple[str, str]]] = {}
    for rule, fired in zip(rejecting, rejected_by, strict=True):
        rows = pc.indices_nonzero(pc.is_valid(fired))
        if len(rows):
            texts = rule.explain_rows(english.take(rows), french.take(rows), params)
            for index, text in zip(rows.to_pylist(), texts, strict=True):
                explained.setdefault(index, []).append((rule.reason, text))
    return explained


def _as_ingested(batch: pa.RecordBatch, flags: pa.ListArray, rows: list[int]) -> list[dict[str, Any]]:
    """Rows `rows` of an ingested batch, taken at once: their file and line, both sides as ingest read them, and the
    codes of the `flag` rules that fired on them."""
    columns = [batch.column(name) for name in _INGESTED] + [flags]
    return pa.record_batch(columns, names=[*_INGESTED, "flags"]).take(pa.array(rows, pa.int64())).to_pylist()


def _reject(row: dict[str, Any], reasons: list[tuple[str, str]]) -> dict[str, Any]:
    """The report line of an ingested row (`_as_ingested`) rejected for `reasons`, (code, explanation) each."""
    return Reject(
        stage=STAGE,
        reasons=[reason for reason, _ in reasons],
        message="; ".join(f"{reason}: {text}" for reason, text in reasons),
        **row,
    ).to_json()


def validate_part(part: Part, params: ValidateParams, rules: tuple[Rule, ...]) -> tuple[str, list[dict[str, Any]]]:
    """Validates one row group of the input into a scratch part; returns the part's name and the rejects."""
    rejects: list[dict[str, Any]] = []

    def kept() -> Iterator[pa.RecordBatch]:
        for batch in part.batches(params.batch_rows):
            rows, batch_rejects = validate_batch(batch, params, rules)
            rejects.extend(batch_rejects)
            yield rows

    return part.scratch.write_batches(part.name(STAGE), kept(), SCHEMA), rejects


def run(params: Params, paths: ValidatePaths) -> str:
    settings = params.validate_
    if not paths.input.is_file():
        raise StageError(f"{paths.input}: no such file; run the ingest stage first (dvc repro ingest)")
    _check_rows_in(pq.ParquetFile(paths.input).metadata.num_rows, paths)
    progress = Progress(STAGE)
    rules = learned_from_input(paths.input, settings)
    rejected_by_reason: Counter[str] = Counter()
    rejected_by_source: Counter[str] = Counter()
    flagged_by_reason: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    rows_in = 0
    paths.output.parent.mkdir(parents=True, exist_ok=True)
    with (
        Scratch.made(params.engine.scratch, paths.output.parent, STAGE) as scratch,
        Workers(params.engine) as workers,
        ParquetSink(paths.output, SCHEMA) as validated,
        JsonlSink(paths.rejects) as rejects,
    ):
        tasks = parts(paths.input, scratch)
        for name, part_rejects in workers.map(partial(validate_part, params=settings, rules=rules), tasks):
            for kept in scratch.read_batches(name):
                validated.write(kept)
                rows_in += kept.num_rows
                for entry in pc.value_counts(pc.list_flatten(kept.column("flags"))).to_pylist():
                    flagged_by_reason[entry["values"]] += entry["counts"]
            for reject in part_rejects:
                rejects.write(reject)
                rejected_by_reason.update(reject["reasons"])
                rejected_by_source[reject["source"]] += 1
            examples.extend(part_rejects[: _EXAMPLES - len(examples)])
            rows_in += len(part_rejects)
            progress.update(rows_in)
    rate = rejects.count / rows_in if rows_in else 0.0
    write_json(
        paths.metrics,
        {
            "rows_in": rows_in,
            "rows_out": validated.rows,
            "rejected": rejects.count,
            "reject_rate": round(rate, _RATE_DIGITS),
            "rejected_by_reason": dict(sorted(rejected_by_reason.items())),
            "rejected_by_source": dict(sorted(rejected_by_source.items())),
            "flagged_by_reason": dict(sorted(flagged_by_reason.items())),
            **{rule.reason: rule.facts for rule in rules if isinstance(rule, LearningRule) and rule.facts},
        },
    )
    top = ", ".join(f"{count:,} {reason}" for reason, count in rejected_by_reason.most_common(_TOP_REASONS))
    if rate > settings.max_reject_rate:
        raise StageError(
            f"{rate:.1%} of {rows_in:,} rows rejected, above validate.max_reject_rate "
            f"({settings.max_reject_rate:.1%}); top reasons: {top}; the input is probably broken: see {paths.rejects}"
        )
    return _summary(
        rows_in, validated.rows, rejects.count, rejected_by_reason, flagged_by_reason, examples, rules, progress, paths
    )


def _check_rows_in(rows_in: int, paths: ValidatePaths) -> None:
    try:
        ingested = read_json(paths.ingest_metrics)["rows"]
    except (FileNotFoundError, KeyError):
        return
    if ingested != rows_in:
        raise StageError(
            f"{paths.input} has {rows_in:,} rows but {paths.ingest_metrics} says {ingested:,}: rerun "
            "ingest (dvc repro ingest)"
        )


def _summary(
    rows_in: int,
    rows_out: int,
    rejected: int,
    rejected_by_reason: Counter[str],
    flagged_by_reason: Counter[str],
    examples: list[dict[str, Any]],
    rules: tuple[Rule, ...],
    progress: Progress,
    paths: ValidatePaths,
) -> str:
    def counts(counter: Counter[str]) -> str:
        return ", ".join(f"{count:,} {reason}" for reason, count in counter.most_common()) or "none"

    lines = [
        f"validate: {rows_in:,} rows in {progress.elapsed:.1f} s: {rows_out:,} written to {paths.output}, "
        f"{rejected:,} rejected" + (f" (see {paths.rejects})" if rejected else "") + ".",
        f"  rejected by reason: {counts(rejected_by_reason)}",
        f"  flagged by reason (rows kept): {counts(flagged_by_reason)}",
    ]
    lines += [f"  {rule.reason}: {rule.summary()}" for rule in rules if isinstance(rule, LearningRule) and rule.facts]
    lines += [f"  e.g. line {example['line']}: {example['message']}" for example in examples]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return process.stage_main(STAGE, run, ValidatePaths, __doc__.splitlines()[0], argv, refused=("pandas", "scipy"))


if __name__ == "__main__":
    process.exit(main())

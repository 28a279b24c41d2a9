"""The one typed, frozen configuration of the pipeline, loaded from `params.yaml`.

One section per DVC stage (`ingest`, `validate`, `split`, `build`), plus `hub` and `release`, which the
publish stage reads (their keys are relied on from outside the repo, so their names are fixed), and `engine`, which
says what runs the stages' per-part work and makes no difference to what they write.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PARAMS_FILE = Path("params.yaml")


class Section(BaseModel):
    """A params section: immutable, and unknown keys are errors rather than silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestParams(Section):
    """How to read the raw CSV."""

    source: Path = Field(description="Path of the raw CSV, relative to the repo root.")
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ";"
    quotechar: Annotated[str, Field(min_length=1, max_length=1)] = '"'
    encoding: str = Field("utf-8", description="Any codec Python knows; a UTF-8 BOM is always skipped.")
    english_column: str = "English"
    french_column: str = "French"
    batch_rows: Annotated[int, Field(gt=0)] = 50_000
    max_record_lines: Annotated[int, Field(gt=0)] = Field(
        200,
        description="A quoted record spanning more physical lines than this is taken as an unterminated quote: "
        "its first line is rejected and reading resumes on the next line.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding {value!r}; use a Python codec name such as utf-8, latin-1, cp1252"
            ) from None
        return value


RuleAction = Literal["reject", "flag", "off"]


class ValidateParams(Section):
    """Which quality rules reject, which only flag, and their thresholds (see `pipeline/rules/` for each rule)."""

    class Rules(Section):
        """The action of each rule, by reason code: `reject` drops the row, `flag` keeps it with the code, `off`."""

        empty_english: RuleAction = "reject"
        empty_french: RuleAction = "reject"
        too_long: RuleAction = "reject"
        control_characters: RuleAction = "reject"
        markup: RuleAction = "reject"
        wrong_language: RuleAction = "reject"
        length_ratio: RuleAction = "reject"
        misaligned: RuleAction = "reject"
        identical_sides: RuleAction = "flag"
        markdown_emphasis: RuleAction = "flag"

    max_reject_rate: Annotated[float, Field(ge=0, le=1)] = Field(
        0.25, description="Above this share of rejected rows the input is taken as broken and the stage fails."
    )
    rules: Rules = Field(default_factory=Rules)
    max_chars: Annotated[int, Field(gt=0)] = Field(5_000, description="too_long: most characters on one side.")
    language_min_chars: Annotated[int, Field(ge=0)] = Field(
        40, description="wrong_language: sides with fewer letters (once code, maths and markup are removed) are exempt."
    )
    language_min_confidence: Annotated[float, Field(ge=0.5, le=1)] = Field(
        0.9, description="wrong_language: how sure the identifier must be that a side is in the other language."
    )
    language_max_chars: Annotated[int, Field(gt=0)] = Field(
        200,
        description="wrong_language: only this many leading characters are identified; more adds cost, not accuracy.",
    )
    batch_rows: Annotated[int, Field(gt=0)] = Field(16_384, description="Rows validated together, by one process.")
    ratio_min_chars: Annotated[int, Field(ge=0)] = Field(
        100, description="length_ratio: pairs whose longer side is shorter than this are exempt."
    )
    ratio_min: Annotated[float, Field(gt=0)] = Field(
        0.25, description="length_ratio: lowest len(french) / len(english)."
    )
    ratio_max: Annotated[float, Field(gt=0)] = Field(
        4.0, description="length_ratio: highest len(french) / len(english)."
    )

    misaligned_max_false_rejects: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.015,
        description="misaligned: the share of aligned pairs the threshold may reject, as estimated on the corpus; "
        "the threshold is the highest score that keeps within it.",
    )
    misaligned_min_words: Annotated[int, Field(ge=1)] = Field(
        3, description="misaligned: pairs with fewer known words on a side are too short to judge."
    )
    misaligned_max_chars: Annotated[int, Field(gt=0)] = Field(
        200, description="misaligned: only this many leading characters of each side are read."
    )
    misaligned_sample_rows: Annotated[int, Field(gt=0)] = Field(
        5_000, description="misaligned: most input rows the model and its threshold are learned from."
    )
    misaligned_min_pairs: Annotated[int, Field(gt=0)] = Field(
        1_000, description="misaligned: with fewer pairs to learn from, no pair is judged."
    )

    @model_validator(mode="after")
    def _ratio_bounds_ordered(self) -> ValidateParams:
        if self.ratio_min >= self.ratio_max:
            raise ValueError(f"ratio_min ({self.ratio_min}) must be below ratio_max ({self.ratio_max})")
        return self


SplitName = Literal["train", "validation", "test"]
SPLITS: tuple[SplitName, ...] = ("train", "validation", "test")


class SplitParams(Section):
    """How rows are assigned to splits."""

    ratios: dict[SplitName, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1}
    )
    salt: str = Field("nyu-dlsp20-en-fr", description="Changing it reshuffles every unpinned group: a MAJOR change.")
    previous_manifest: Path | None = Field(
        None, description="Manifest of the previous release; its ids keep their splits. Null for a first release."
    )

    @field_validator("ratios")
    @classmethod
    def _ratios_complete(cls, ratios: dict[str, float]) -> dict[str, float]:
        if set(ratios) != set(SPLITS):
            raise ValueError(f"ratios needs exactly the splits {', '.join(SPLITS)}; got {', '.join(ratios) or 'none'}")
        if abs(sum(ratios.values()) - 1) > 1e-9:
            raise ValueError(f"ratios must sum to 1; they sum to {sum(ratios.values())}")
        return ratios


class BuildParams(Section):
    """How the Hub-ready folder is written: the exact contents of the dataset repo."""

    output_dir: Path = Field(Path("dist/hub"), description="The folder published as the dataset repo.")
    shard_rows: Annotated[int, Field(gt=0)] = Field(
        100_000, description="Most rows in one `data/<split>-NNNNN-of-MMMMM.parquet` shard."
    )
    row_group_rows: Annotated[int, Field(gt=0)] = Field(
        10_000,
        description="Rows per parquet row group. Streaming readers and the Hub's viewer fetch whole row groups, so "
        "groups stay small; fixed rather than taken from the input batches so that rebuilds are byte-identical.",
    )
    compression_level: Annotated[int, Field(ge=1, le=22)] = Field(
        3,
        description="zstd level of the shards and the manifest. Level 9 saves about 7% of the bytes of level 3 on "
        "this text and costs four times the time.",
    )
    pretty_name: str = Field(
        "English-French NYU Deep Learning Course Corpus", min_length=1, description="`pretty_name` of the card."
    )
    verify: bool = Field(
        True, description="Load the built folder back with `datasets` and compare it with the split table."
    )

    @model_validator(mode="after")
    def _row_groups_fit_shards(self) -> BuildParams:
        if self.row_group_rows > self.shard_rows:
            raise ValueError(f"row_group_rows ({self.row_group_rows}) must not exceed shard_rows ({self.shard_rows})")
        return self


class EngineParams(Section):
    """What runs the stages' per-part work. Not part of the release's identity: every engine, with any number of
    workers, makes the same bytes, so no stage declares this section in `dvc.yaml` and changing it reruns nothing."""

    kind: Literal["local", "dask"] = Field(
        "local",
        description="'local': processes forked on this machine; 'dask': the workers of a Dask cluster (`distributed`).",
    )
    address: str = Field(
        "local",
        description="dask: the scheduler's address, such as tcp://10.0.0.5:8786, or 'local' to start a LocalCluster "
        "of `workers` processes on this machine for the run.",
    )
    workers: Annotated[int, Field(ge=0)] = Field(
        0,
        description="Worker processes: on this machine (local, or a dask LocalCluster), 0 meaning one per available "
        "core; for a scheduler elsewhere, how many workers must have joined before the work starts (0: one).",
    )
    scratch: str | None = Field(
        None,
        description="Where the workers write their work parts: a path or an fsspec URL (s3://bucket/tmp) that every "
        "worker reaches; null: a temporary folder beside the stage's outputs.",
    )

    @field_validator("address")
    @classmethod
    def _address_shape(cls, value: str) -> str:
        if value != "local" and not re.fullmatch(r"(tcp|tls|ws|wss|inproc|ucx)://\S+", value):
            raise ValueError(
                f"address must be 'local' or a scheduler address such as tcp://10.0.0.5:8786; got {value!r}"
            )
        return value


class HubParams(Section):
    """Where releases are published."""

    endpoint: str = Field(
        "embedded",
        description="'embedded' (the in-process Hub storing repos under data_dir) or an http(s) URL "
        "such as https://huggingface.co.",
    )
    repo_id: str = "lbourdois/en-fr-nyu-dl-course-corpus"
    private: bool = False
    data_dir: Path = Path(".localhub")

    @field_validator("endpoint")
    @classmethod
    def _endpoint_shape(cls, value: str) -> str:
        if value != "embedded" and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
            raise ValueError(f"endpoint must be 'embedded' or an http(s) URL; got {value!r}")
        return value.rstrip("/")

    @field_validator("repo_id")
    @classmethod
    def _repo_id_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", value):
            raise ValueError(f"repo_id must look like 'namespace/name'; got {value!r}")
        return value


class ReleaseParams(Section):
    """The release being cut: the single source of truth for the version."""

    version: str = Field(pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="date-released in the card and CITATION.cff")

    @property
    def tag(self) -> str:
        return f"v{self.version}"


class Params(Section):
    ingest: IngestParams
    # `validate` is a BaseModel method name, so the field is stored under another name.
    validate_: ValidateParams = Field(default_factory=ValidateParams, alias="validate")
    split: SplitParams = Field(default_factory=SplitParams)
    build: BuildParams = Field(default_factory=BuildParams)
    engine: EngineParams = Field(default_factory=EngineParams)
    hub: HubParams = Field(default_factory=HubParams)
    release: ReleaseParams


class ParamsError(Exception):
    """params.yaml cannot be used; the message lists every problem and the valid choices."""


def load_params(path: Path = PARAMS_FILE) -> Params:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the repository root") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        raise ParamsError(f"{path}: invalid params\n" + "\n".join(_describe(err) for err in exc.errors())) from None


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        valid = ", ".join(_fields_at(error["loc"][:-1]))
        return f"  {location}: unknown key; valid keys here: {valid}"
    if error["type"] == "missing":
        return f"  {location}: required key is missing"
    return f"  {location}: {error['msg']}"


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Params
    for part in loc:
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        annotation = fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [field.alias or name for name, field in model.model_fields.items()]

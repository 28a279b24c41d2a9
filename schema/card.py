"""The dataset card's facts as a typed model, and their renderings; reads and writes nothing.

The build stage fills the facts from params, metrics and data; the renderings are the card's YAML front matter, its
tables, the BibTeX citation and `CITATION.cff`.
"""

from __future__ import annotations

import json
import string
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schema.release import LANGUAGES, YAML_FEATURES

# The source notes (github.com/Atcold/NYU-DLSP20) are CC BY-NC-SA 4.0. A translation is an adaptation, so
# ShareAlike requires the same licence and NonCommercial still applies; the cc-by-4.0 once shown on the dataset
# page cannot be granted by the translator alone.
LICENSE = "cc-by-nc-sa-4.0"
LICENSE_SPDX = "CC-BY-NC-SA-4.0"
COURSE_URL = "https://atcold.github.io/NYU-DLSP20/"
COURSE_REPO_URL = "https://github.com/Atcold/NYU-DLSP20"
HUB_URL = "https://huggingface.co/datasets/"

# The Hub's `size_categories` vocabulary, by upper bound of the row count.
_SIZE_CATEGORIES = [
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
    (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(Model):
    given_names: str
    family_names: str

    @property
    def bibtex(self) -> str:
        return f"{self.family_names}, {self.given_names}"


# The course's own citation: its instructors. The notes themselves were written by the course's students.
COURSE_AUTHORS = (
    Person(given_names="Alfredo", family_names="Canziani"),
    Person(given_names="Yann", family_names="LeCun"),
)
TRANSLATOR = Person(given_names="Loïck", family_names="Bourdois")


class LengthStats(Model):
    """Lengths of one side of one split, in Unicode characters."""

    mean: float
    median: int
    p95: int
    max: int


class SplitFacts(Model):
    name: str
    rows: int = Field(ge=0)
    num_bytes: int = Field(ge=0, description="Arrow size of the split in memory, as `datasets` reports it.")
    download_bytes: int = Field(ge=0, description="Size of the split's parquet shards.")
    shards: int = Field(ge=1)
    english: LengthStats
    french: LengthStats
    french_english_ratio: float = Field(description="Characters of French per character of English, over the split.")


class Example(Model):
    id: str
    split: str
    source: str
    line: int
    english: str
    french: str
    flags: list[str]


class MisalignedFacts(Model):
    """What validate's `misaligned` rule learned from the corpus, as its metrics state it: the threshold and what it
    is estimated to do (see `pipeline/alignment/calibration.py`)."""

    judged: bool = Field(description="False when the corpus had too few pairs to learn from.")
    learned_from: int = Field(ge=0, description="Pairs of the input's sample that the model learned from.")
    min_pairs: int = Field(ge=1)
    min_words: int = Field(ge=1)
    threshold: float | None = None
    too_short_share: float | None = Field(None, description="Pairs with too few known words on a side to judge.")
    estimated_false_rejects: float | None = None
    estimated_caught_neighbour: float | None = None
    estimated_caught_far: float | None = None
    estimated_misaligned_share: float | None = None

    def markdown(self) -> str:
        if not self.judged:
            return (
                f"The `misaligned` rule judged no pair: {self.learned_from:,} pairs are too few to learn a translation "
                f"model from (it needs {self.min_pairs:,})."
            )
        return (
            f"Misaligned pairs (`misaligned`): a word-translation model (IBM Model 1, both directions) learned from "
            f"{self.learned_from:,} pairs of the input scores every pair, each pair by a model that did not learn "
            f"from it; pairs scoring below {self.threshold:.3f} are rejected. On this corpus that threshold is "
            f"estimated to reject {self.estimated_false_rejects:.1%} of aligned pairs and to catch "
            f"{self.estimated_caught_neighbour:.1%} of pairs shifted by one row and {self.estimated_caught_far:.1%} "
            f"of pairs shifted far; an estimated {self.estimated_misaligned_share:.1%} of the input's pairs were "
            f"misaligned. Pairs with fewer than {self.min_words} known words on a side "
            f"({self.too_short_share:.1%} of them) are too short to judge and are never rejected by this rule."
        )


class QualityFacts(Model):
    """What the stages before build kept out, from their metrics."""

    records: int
    ingest_rejected: int
    validate_rejected: int
    ingest_rejected_by_reason: dict[str, int]
    validate_rejected_by_reason: dict[str, int]
    flagged_by_reason: dict[str, int]
    duplicates_merged: int
    cross_split_links: int
    pinned: int
    misaligned: MisalignedFacts | None = None


class CardValues(Model):
    """The template's placeholders (`$name`), each rendered as text; `CardFacts.values` must fill every one."""

    front_matter: str
    pretty_name: str
    repo_id: str
    version: str
    tag: str
    date: str
    license: str
    rows: str
    records: str
    rejected: str
    duplicates_merged: str
    cross_split_links: str
    pinned: str
    split_ratios: str
    example: str
    splits_table: str
    rejects_table: str
    flags_table: str
    misaligned: str
    changes: str
    required_bump: str
    bibtex: str
    course_url: str
    course_repo_url: str


PLACEHOLDERS = frozenset(CardValues.model_fields)


class CardFacts(Model):
    """Every fact the card, the citation and the changelog state; nothing in them is typed by hand."""

    pretty_name: str
    repo_id: str
    version: str
    date: str
    splits: list[SplitFacts]
    example: Example
    quality: QualityFacts
    split_ratios: dict[str, float]
    previous_version: str | None
    changes_markdown: str
    required_bump: str

    @property
    def rows(self) -> int:
        return sum(split.rows for split in self.splits)

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    def front_matter(self) -> dict[str, Any]:
        """The card's YAML metadata: what the Hub indexes and what `load_dataset` reads (configs, dataset_info)."""
        return {
            "pretty_name": self.pretty_name,
            "license": LICENSE,
            "language": list(LANGUAGES),
            "multilinguality": ["translation"],
            "task_categories": ["translation"],
            "size_categories": [size_category(self.rows)],
            "source_datasets": ["original"],
            "tags": ["parallel-corpus", "deep-learning", "course-notes"],
            "configs": [
                {
                    "config_name": "default",
                    "default": True,
                    "data_files": [
                        {"split": split.name, "path": f"data/{split.name}-*.parquet"} for split in self.splits
                    ],
                }
            ],
            "dataset_info": {
                "features": YAML_FEATURES,
                "splits": [
                    {"name": split.name, "num_bytes": split.num_bytes, "num_examples": split.rows}
                    for split in self.splits
                ],
                "download_size": sum(split.download_bytes for split in self.splits),
                "dataset_size": sum(split.num_bytes for split in self.splits),
            },
        }

    def bibtex(self) -> str:
        course_authors = " and ".join(person.bibtex for person in COURSE_AUTHORS)
        key = self.repo_id.split("/")[-1].replace("-", "_")
        return (
            f"@misc{{{key}_{self.version.replace('.', '_')},\n"
            f"  author       = {{{TRANSLATOR.bibtex}}},\n"
            f"  title        = {{{self.pretty_name}}},\n"
            f"  version      = {{{self.version}}},\n"
            f"  year         = {{{self.date[:4]}}},\n"
            f"  publisher    = {{Hugging Face}},\n"
            f"  howpublished = {{\\url{{{HUB_URL}{self.repo_id}}}}},\n"
            f"  note         = {{French translation of the student notes of {{NYU}} Deep Learning, Spring 2020}}\n"
            "}\n\n"
            "@misc{canziani2020nyudlsp20,\n"
            f"  author       = {{{course_authors}}},\n"
            "  title        = {{NYU} Deep Learning, Spring 2020},\n"
            "  year         = {2020},\n"
            f"  howpublished = {{\\url{{{COURSE_URL}}}}}\n"
            "}\n"
        )

    def citation_cff(self) -> dict[str, Any]:
        """`CITATION.cff` (schema 1.2.0): the dataset, citing back to the course it translates."""
        return {
            "cff-version": "1.2.0",
            "message": "If you use this dataset, please cite it as below, together with the course it comes from.",
            "type": "dataset",
            "title": self.pretty_name,
            "version": self.version,
            "date-released": self.date,
            "license": LICENSE_SPDX,
            "url": f"{HUB_URL}{self.repo_id}",
            "repository": f"{HUB_URL}{self.repo_id}",
            "authors": [_cff_person(person) for person in (*COURSE_AUTHORS, TRANSLATOR)],
            "keywords": ["machine translation", "parallel corpus", "English", "French", "deep learning"],
            "references": [
                {
                    "type": "website",
                    "title": "NYU Deep Learning, Spring 2020",
                    "authors": [_cff_person(person) for person in COURSE_AUTHORS],
                    "year": 2020,
                    "url": COURSE_URL,
                    "repository-code": COURSE_REPO_URL,
                    "license": LICENSE_SPDX,
                }
            ],
        }

    def values(self) -> dict[str, str]:
        """The template's placeholders, each rendered (`CardValues`)."""
        total = self.rows
        quality = self.quality
        rejected = quality.ingest_rejected + quality.validate_rejected
        return CardValues(
            front_matter=dump_yaml(self.front_matter()),
            pretty_name=self.pretty_name,
            repo_id=self.repo_id,
            version=self.version,
            tag=self.tag,
            date=self.date,
            license=LICENSE,
            rows=f"{total:,}",
            records=f"{quality.records:,}",
            rejected=f"{rejected:,}",
            duplicates_merged=f"{quality.duplicates_merged:,}",
            cross_split_links=f"{quality.cross_split_links:,}",
            pinned=f"{quality.pinned:,}",
            split_ratios=", ".join(f"{name} {share:.0%}" for name, share in self.split_ratios.items()),
            example=self._example(),
            splits_table=self._splits_table(),
            rejects_table=self._reasons_table(
                {f"{reason} (ingest)": count for reason, count in quality.ingest_rejected_by_reason.items()}
                | {f"{reason} (validate)": count for reason, count in quality.validate_rejected_by_reason.items()}
            ),
            flags_table=self._reasons_table(quality.flagged_by_reason),
            misaligned=f"\n{quality.misaligned.markdown()}\n" if quality.misaligned else "",
            changes=self.changes_markdown.strip(),
            required_bump=self.required_bump.upper(),
            bibtex=self.bibtex().strip(),
            course_url=COURSE_URL,
            course_repo_url=COURSE_REPO_URL,
        ).model_dump()

    def render(self, template: str) -> str:
        return string.Template(template).substitute(self.values())

    def _example(self) -> str:
        row = {
            "id": self.example.id,
            "translation": {"en": self.example.english, "fr": self.example.french},
            "source": self.example.source,
            "line": self.example.line,
            "flags": self.example.flags,
        }
        return json.dumps(row, ensure_ascii=False, indent=2)

    def _splits_table(self) -> str:
        lines = [
            "| split | rows | shards | English chars: mean / median / p95 / max "
            "| French chars: mean / median / p95 / max | French / English chars |",
            "|---|---:|---:|---|---|---:|",
        ]
        for split in self.splits:
            lines.append(
                f"| {split.name} | {split.rows:,} | {split.shards} | {_lengths(split.english)} | "
                f"{_lengths(split.french)} | {split.french_english_ratio:.3f} |"
            )
        return "\n".join(lines)

    @staticmethod
    def _reasons_table(counts: dict[str, int]) -> str:
        if not counts:
            return "None."
        by_count = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        rows = [f"| `{reason}` | {count:,} |" for reason, count in by_count]
        return "\n".join(["| reason | count |", "|---|---:|", *rows])


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated values in full: anchors and aliases are valid YAML but not every card reader follows them."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=1000)


def _lengths(stats: LengthStats) -> str:
    return f"{stats.mean:.1f} / {stats.median:,} / {stats.p95:,} / {stats.max:,}"


def _cff_person(person: Person) -> dict[str, str]:
    return {"given-names": person.given_names, "family-names": person.family_names}


def size_category(rows: int) -> str:
    """The Hub's `size_categories` bucket of a row count."""
    for bound, name in _SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>1T"


def check_template(template: str) -> None:
    """Raises ValueError when the template is malformed or names a placeholder that `CardValues` lacks."""
    parsed = string.Template(template)
    if not parsed.is_valid():
        raise ValueError("a `$` that starts no placeholder; write `$$` for a literal dollar sign")
    unknown = sorted(set(parsed.get_identifiers()) - PLACEHOLDERS)
    if unknown:
        raise ValueError(f"unknown placeholders {', '.join(unknown)}; valid: {', '.join(sorted(PLACEHOLDERS))}")

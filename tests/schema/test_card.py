"""Tests of schema/card.py: the features and metadata agree with `datasets` and the Hub, and templates are checked."""

from __future__ import annotations

import pytest
import yaml

from schema.card import (FEATURES, PLACEHOLDERS, YAML_FEATURES, CardFacts, Example, LengthStats, QualityFacts,
                         SplitFacts, check_template, size_category)
from tests.helpers import REPO


def facts() -> CardFacts:
    lengths = LengthStats(mean=10.0, median=9, p95=20, max=30)
    return CardFacts(
        pretty_name="Corpus", repo_id="someone/corpus", version="1.2.0", date="2026-11-26",
        splits=[SplitFacts(name=name, rows=rows, num_bytes=10 * rows, download_bytes=rows, shards=1, english=lengths,
                           french=lengths, french_english_ratio=1.1)
                for name, rows in (("train", 8), ("validation", 1), ("test", 1))],
        example=Example(id="nyu-enfr-v1:00", split="train", line=2, english="Week 1", french="Semaine 1", flags=[]),
        quality=QualityFacts(records=12, ingest_rejected=1, validate_rejected=1, ingest_rejected_by_reason={},
                             validate_rejected_by_reason={"markup": 1}, flagged_by_reason={}, duplicates_merged=0,
                             cross_split_links=0, pinned=0),
        split_ratios={"train": 0.8, "validation": 0.1, "test": 0.1}, previous_version="1.1.0",
        changes_markdown="### 1.2.0\n", required_bump="minor",
    )


def test_features_are_what_datasets_serialises():
    import datasets

    features = datasets.Features({"id": datasets.Value("string"),
                                  "translation": datasets.Translation(languages=["en", "fr"]),
                                  "line": datasets.Value("int64"), "flags": datasets.List(datasets.Value("string"))})
    assert datasets.Features.from_dict(FEATURES) == features
    assert features.to_dict() == FEATURES
    assert datasets.DatasetInfo(features=features)._to_yaml_dict()["features"] == YAML_FEATURES


def test_front_matter_is_plain_yaml_the_hub_accepts():
    from huggingface_hub import DatasetCardData

    from localhub.cardcheck import validate

    metadata = facts().front_matter()
    text = yaml.safe_dump(metadata)  # a tuple anywhere would make the safe dumper fail
    assert "!!python" not in text and "&id" not in facts().values()["front_matter"]
    card = DatasetCardData(**metadata)
    assert card.license == "cc-by-nc-sa-4.0" and card.task_categories == ["translation"]
    errors, _ = validate(f"---\n{facts().values()['front_matter']}---\n", "dataset")
    assert errors == []


def test_the_repo_template_uses_only_known_placeholders_and_all_of_them():
    template = (REPO / "dataset_card.md").read_text(encoding="utf-8")
    check_template(template)
    assert set(facts().values()) == PLACEHOLDERS


@pytest.mark.parametrize(("template", "message"), [
    ("$unknown", "unknown placeholders unknown"),
    ("costs 5 $", "literal dollar"),
])
def test_bad_templates_are_refused(template, message):
    with pytest.raises(ValueError, match=message):
        check_template(template)


@pytest.mark.parametrize(("rows", "category"), [
    (0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (2_248, "1K<n<10K"), (1_000_000, "1M<n<10M"),
])
def test_size_category(rows, category):
    assert size_category(rows) == category


def test_citation_cff_carries_the_release():
    cff = facts().citation_cff()
    assert (cff["type"], cff["version"], cff["date-released"], cff["license"]) == (
        "dataset", "1.2.0", "2026-11-26", "CC-BY-NC-SA-4.0")
    assert [author["family-names"] for author in cff["authors"]] == ["Canziani", "LeCun", "Bourdois"]

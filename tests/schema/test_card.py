"""Tests of schema/card.py: the metadata agrees with the Hub, and templates are checked against the placeholders."""

from __future__ import annotations

import json

import pytest
import yaml
from pydantic import ValidationError

from schema.card import (
    PLACEHOLDERS,
    CardFacts,
    CardValues,
    Example,
    LengthStats,
    MisalignedFacts,
    QualityFacts,
    SplitFacts,
    check_template,
    size_category,
)
from schema.release import SCHEMA, YAML_FEATURES
from tests.helpers import REPO


def facts() -> CardFacts:
    lengths = LengthStats(mean=10.0, median=9, p95=20, max=30)
    return CardFacts(
        pretty_name="Corpus",
        repo_id="someone/corpus",
        version="1.2.0",
        date="2026-11-26",
        splits=[
            SplitFacts(
                name=name,
                rows=rows,
                num_bytes=10 * rows,
                download_bytes=rows,
                shards=1,
                english=lengths,
                french=lengths,
                french_english_ratio=1.1,
            )
            for name, rows in (("train", 8), ("validation", 1), ("test", 1))
        ],
        example=Example(
            id="nyu-enfr-v1:00", split="train", source="raw.csv", line=2, english="Week 1", french="Semaine 1", flags=[]
        ),
        quality=QualityFacts(
            records=12,
            ingest_rejected=1,
            validate_rejected=1,
            ingest_rejected_by_reason={},
            validate_rejected_by_reason={"markup": 1},
            flagged_by_reason={},
            duplicates_merged=0,
            cross_split_links=0,
            pinned=0,
        ),
        split_ratios={"train": 0.8, "validation": 0.1, "test": 0.1},
        previous_version="1.1.0",
        changes_markdown="### 1.2.0\n",
        required_bump="minor",
    )


def test_the_card_states_the_released_features_and_shows_a_released_row():
    assert facts().front_matter()["dataset_info"]["features"] == YAML_FEATURES
    assert list(json.loads(facts().values()["example"])) == SCHEMA.names


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
    assert {name for name in PLACEHOLDERS if f"${name}" not in template and f"${{{name}}}" not in template} == set()


def test_a_template_using_every_value_renders_each_one():
    template = "\n".join(f"{name}=${{{name}}}" for name in sorted(PLACEHOLDERS))
    check_template(template)
    values = facts().values()
    assert facts().render(template) == "\n".join(f"{name}={values[name]}" for name in sorted(PLACEHOLDERS))


def test_a_value_without_its_placeholder_or_a_placeholder_without_its_value_is_refused():
    values = facts().values()
    with pytest.raises(ValidationError, match="course_url"):
        CardValues(**{name: value for name, value in values.items() if name != "course_url"})
    with pytest.raises(ValidationError, match="citation"):
        CardValues(**values, citation="...")


def test_an_unknown_placeholder_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError) as failure:
        check_template("$version and $unknown")
    assert str(failure.value) == f"unknown placeholders unknown; valid: {', '.join(sorted(PLACEHOLDERS))}"
    assert "front_matter" in str(failure.value) and "course_repo_url" in str(failure.value)


def test_a_lone_dollar_is_refused():
    with pytest.raises(ValueError, match="literal dollar"):
        check_template("costs 5 $")


@pytest.mark.parametrize(
    ("rows", "category"),
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1_000, "1K<n<10K"),
        (2_248, "1K<n<10K"),
        (1_000_000, "1M<n<10M"),
    ],
)
def test_size_category(rows, category):
    assert size_category(rows) == category


def test_citation_cff_carries_the_release():
    cff = facts().citation_cff()
    assert (cff["type"], cff["version"], cff["date-released"], cff["license"]) == (
        "dataset",
        "1.2.0",
        "2026-11-26",
        "CC-BY-NC-SA-4.0",
    )
    assert [author["family-names"] for author in cff["authors"]] == ["Canziani", "LeCun", "Bourdois"]


def test_the_misaligned_rule_is_stated_with_its_threshold_and_estimates():
    judged = MisalignedFacts(
        judged=True,
        learned_from=2_273,
        min_pairs=1_000,
        min_words=3,
        threshold=-0.5851,
        too_short_share=0.129,
        estimated_false_rejects=0.0149,
        estimated_caught_neighbour=0.942,
        estimated_caught_far=0.999,
        estimated_misaligned_share=0.004,
    ).markdown()
    assert "learned from 2,273 pairs" in judged and "below -0.585" in judged
    assert "reject 1.5% of aligned pairs" in judged and "94.2% of pairs shifted by one row" in judged
    assert "fewer than 3 known words on a side (12.9% of them)" in judged
    unjudged = MisalignedFacts(judged=False, learned_from=99, min_pairs=1_000, min_words=3).markdown()
    assert unjudged == (
        "The `misaligned` rule judged no pair: 99 pairs are too few to learn a translation model from (it needs 1,000)."
    )

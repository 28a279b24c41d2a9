"""Tests of schema/release.py: the released row's features, the card's YAML features and the shards' Arrow schema
agree with each other and with `datasets`, field for field."""

from __future__ import annotations

import subprocess
import sys

import pytest

from schema import release
from schema.release import FEATURES, LANGUAGES, SCHEMA, YAML_FEATURES, datasets_features
from tests.helpers import REPO

COLUMNS = ["id", "translation", "source", "line", "flags"]


def released_features():
    """The released row written out in `datasets`' own classes, independently of the module."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "translation": datasets.Translation(languages=["en", "fr"]),
            "source": datasets.Value("string"),
            "line": datasets.Value("int64"),
            "flags": datasets.List(datasets.Value("string")),
        }
    )


def test_the_released_columns_are_the_same_in_every_form():
    assert list(FEATURES) == SCHEMA.names == [feature["name"] for feature in YAML_FEATURES] == COLUMNS


def test_features_are_what_datasets_serialises():
    assert datasets_features() == released_features()
    assert released_features().to_dict() == FEATURES


def test_yaml_features_are_what_datasets_writes_in_a_card():
    import datasets

    assert datasets.DatasetInfo(features=released_features())._to_yaml_dict()["features"] == YAML_FEATURES


def test_the_shard_schema_is_the_one_datasets_writes_with_its_metadata():
    expected = released_features().arrow_schema
    for name in COLUMNS:
        assert SCHEMA.field(name).type == expected.field(name).type, name
    assert SCHEMA.equals(expected, check_metadata=True)


def test_the_module_leaves_datasets_unimported():
    """Publish must point the Hub clients at its endpoint before they are imported; build and publish import this."""
    check = "import sys, schema.release; sys.exit('datasets' in sys.modules or 'huggingface_hub' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], cwd=REPO).returncode == 0


def test_datasets_reads_the_shard_schema_back_as_the_features():
    import datasets

    assert datasets.Features.from_arrow_schema(SCHEMA) == released_features()
    assert datasets.Features.from_arrow_schema(SCHEMA.remove_metadata()) != released_features(), (
        "without the metadata `translation` is a plain struct: the metadata carries the features"
    )


def test_the_languages_are_the_translation_columns_fields():
    assert [field.name for field in SCHEMA.field("translation").type] == sorted(LANGUAGES)
    assert FEATURES["translation"]["languages"] == list(LANGUAGES)


# Features of each kind the module converts, beyond the ones released today, built from the `datasets` module.
KINDS = {
    "float": lambda datasets: datasets.Value("float32"),
    "bool": lambda datasets: datasets.Value("bool"),
    "list": lambda datasets: datasets.List(datasets.Value("int32")),
    "nested list": lambda datasets: datasets.List(datasets.List(datasets.Value("string"))),
    "unsorted languages": lambda datasets: datasets.Translation(languages=["fr", "de", "en"]),
    "list of translations": lambda datasets: datasets.List(datasets.Translation(languages=["en", "fr"])),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_converts_as_datasets_converts_it(kind):
    import datasets

    features = datasets.Features({"column": KINDS[kind](datasets)})
    serialised = features.to_dict()["column"]
    assert release._arrow_type(serialised) == features.arrow_schema.field("column").type
    assert [{"name": "column", **release._yaml_type(serialised)}] == features._to_yaml_list()


@pytest.mark.parametrize("convert", [release._arrow_type, release._yaml_type])
def test_a_kind_the_module_does_not_know_is_refused(convert):
    with pytest.raises(ValueError, match="add its kind to schema/release.py"):
        convert({"names": ["a", "b"], "_type": "ClassLabel"})

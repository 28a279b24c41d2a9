"""The released row (`id`, `translation` {en, fr}, `source`, `line`, `flags`), described once; reads and writes nothing.

`FEATURES` is the description. Derived from it: the shards' Arrow schema with the `datasets` metadata (`SCHEMA`),
the card's `dataset_info.features` (`YAML_FEATURES`), and the `datasets.Features` that build and publish check a
loaded release against (`datasets_features`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import datasets

LANGUAGES = ("en", "fr")

# The released columns as `datasets` serialises its `Features` (`Features.to_dict()`), which is also how the shards
# carry them in their metadata; lists, never tuples, so that it equals what `datasets` reads back.
FEATURES: dict[str, Any] = {
    "id": {"dtype": "string", "_type": "Value"},
    "translation": {"languages": list(LANGUAGES), "_type": "Translation"},
    "source": {"dtype": "string", "_type": "Value"},
    "line": {"dtype": "int64", "_type": "Value"},
    "flags": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
}


def _arrow_type(feature: dict[str, Any]) -> pa.DataType:
    """The Arrow type `datasets` stores a serialised feature as."""
    match feature:
        case {"_type": "Value", "dtype": dtype}:
            return pa.type_for_alias(dtype)
        case {"_type": "List", "feature": item}:
            return pa.list_(_arrow_type(item))
        case {"_type": "Translation", "languages": languages}:
            # As `datasets.Translation` stores it: one string per language, in sorted order.
            return pa.struct([pa.field(language, pa.string()) for language in sorted(languages)])
    raise ValueError(f"no Arrow type for the feature {feature}: add its kind to schema/release.py")


def _yaml_type(feature: dict[str, Any]) -> dict[str, Any]:
    """A serialised feature as the card's YAML states it (`DatasetInfo._to_yaml_dict()`), without its name."""
    match feature:
        case {"_type": "Value", "dtype": dtype}:
            return {"dtype": dtype}
        case {"_type": "List", "feature": item}:
            # A list of plain values is written as the values' dtype alone.
            item_type = _yaml_type(item)
            return {"list": item_type["dtype"] if list(item_type) == ["dtype"] else item_type}
        case {"_type": "Translation", "languages": languages}:
            return {"dtype": {"translation": {"languages": list(languages)}}}
    raise ValueError(f"no YAML form for the feature {feature}: add its kind to schema/release.py")


# The card's `dataset_info.features`; lists, never tuples, so the YAML stays plain.
YAML_FEATURES: list[dict[str, Any]] = [{"name": name, **_yaml_type(feature)} for name, feature in FEATURES.items()]

SCHEMA = pa.schema(
    [pa.field(name, _arrow_type(feature)) for name, feature in FEATURES.items()],
    # What `datasets` reads back as `Features`: without it `translation` would load as a plain struct.
    metadata={"huggingface": json.dumps({"info": {"features": FEATURES}})},
)


def datasets_features() -> datasets.Features:
    """`FEATURES` as `datasets.Features`. `datasets` is imported here, not with the module: it is slow to import,
    and publish must set `HF_ENDPOINT` before the Hub clients are imported."""
    import datasets

    return datasets.Features.from_dict(FEATURES)

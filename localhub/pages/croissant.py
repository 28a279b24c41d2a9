"""A revision's Croissant description (JSON-LD, Croissant 1.0), as the Hub answers `/api/datasets/{id}/croissant`:
each parquet file of the default config with its sha256, one record set per split with the shards' columns, and the
card's licence, citation and summary."""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from localhub.pages.card import Card
from localhub.pages.shards import Config, ContentCache, Split, content_id, open_parquet
from localhub.storage import Entry, Repo

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
# The context every Croissant 1.0 file carries, written out so that no reader has to fetch one.
CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
PARQUET = "application/x-parquet"
_DATA_TYPES = {"string": "sc:Text", "large_string": "sc:Text", "bool": "sc:Boolean"}
_SHA256 = ContentCache(4096)


def describe(
    repo: Repo,
    card: Card,
    config: Config,
    *,
    name: str,
    url: str,
    file_url: str,
    version: str | None,
    date: str | None,
) -> dict[str, Any]:
    """`file_url` is the resolve URL of the revision, to which a file's path is appended."""
    files = [entry for split in config.splits for entry in split.files]
    description: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": name,
        "description": card.summary or card.pretty_name or name,
        "url": url,
        "distribution": [_file_object(repo, entry, file_url) for entry in files],
        "recordSet": [],
    }
    optional = {
        "alternateName": card.pretty_name,
        "license": card.license,
        "citeAs": card.citation,
        "version": version,
        "datePublished": date[:10] if date else None,
        "keywords": card.metadata.get("tags") if isinstance(card.metadata.get("tags"), list) else None,
        "inLanguage": card.metadata.get("language"),
    }
    description.update({key: value for key, value in optional.items() if value})
    for split in config.splits:
        if not split.files:
            continue
        source = _split_source(split)
        if "fileSet" in source:
            description["distribution"].append(
                {
                    "@type": "cr:FileSet",
                    "@id": source["fileSet"]["@id"],
                    "name": source["fileSet"]["@id"],
                    "description": f"The parquet shards of the {split.name} split.",
                    "containedIn": [{"@id": entry.path} for entry in split.files],
                    "encodingFormat": PARQUET,
                    "includes": "*",
                }
            )
        schema = open_parquet(repo, split.files[0]).schema_arrow
        record_set: dict[str, Any] = {
            "@type": "cr:RecordSet",
            "@id": split.name,
            "name": split.name,
            "description": f"The rows of the {split.name} split.",
            "field": [_field(split.name, field, source) for field in schema],
        }
        if "id" in schema.names:
            record_set["key"] = {"@id": f"{split.name}/id"}
        description["recordSet"].append(record_set)
    return description


def _file_object(repo: Repo, entry: Entry, file_url: str) -> dict[str, Any]:
    return {
        "@type": "cr:FileObject",
        "@id": entry.path,
        "name": entry.path,
        "contentUrl": f"{file_url}/{entry.path}",
        "contentSize": f"{entry.size} B",
        "encodingFormat": PARQUET,
        "sha256": _sha256(repo, entry),
    }


def _sha256(repo: Repo, entry: Entry) -> str:
    """An LFS or Xet file's sha256 is in its pointer; an inline file is hashed once per content."""
    if entry.lfs is not None:
        return entry.lfs.oid

    def digest() -> str:
        hashed = hashlib.sha256()
        for chunk in repo.read_range(entry, 0, entry.size - 1) if entry.size else ():
            hashed.update(chunk)
        return hashed.hexdigest()

    return _SHA256.get(content_id(entry), digest)


def _split_source(split: Split) -> dict[str, Any]:
    """Where a split's fields are read from: its file, or the file set of its shards.

    mlcroissant (1.1) reads a file set only out of an archive or a git repository, not out of the files it lists, so
    a split of one shard names the file itself, which every reader can load."""
    if len(split.files) == 1:
        return {"fileObject": {"@id": split.files[0].path}}
    return {"fileSet": {"@id": f"{split.name}-shards"}}


def _field(record_set: str, field: pa.Field, file: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
    """A column as a Croissant field; a struct's children become sub-fields read from the column by JSON path."""
    column = parent or field.name
    field_id = f"{record_set}/{column}" if parent is None else f"{record_set}/{parent}/{field.name}"
    found: dict[str, Any] = {"@type": "cr:Field", "@id": field_id, "name": field_id}
    data_type = field.type
    if pa.types.is_struct(data_type):
        found["subField"] = [_field(record_set, child, file, parent=column) for child in data_type]
        return found
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        found["repeated"] = True
        data_type = data_type.value_type
    found["dataType"] = _data_type(data_type)
    source: dict[str, Any] = {**file, "extract": {"column": column}}
    if parent is not None:
        source["transform"] = {"jsonPath": field.name}
    found["source"] = source
    return found


def _data_type(data_type: pa.DataType) -> str:
    if pa.types.is_integer(data_type):
        return "sc:Integer"
    if pa.types.is_floating(data_type):
        return "sc:Float"
    return _DATA_TYPES.get(str(data_type), "sc:Text")

"""Reads the parquet files of a revision through the store: seekable files over its ranged reads, footers cached by
content, and which files make each split of each config (the card's `configs`, as `datasets` reads them)."""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow.parquet as pq

from localhub import cardcheck
from localhub.storage import Entry, Repo

T = TypeVar("T")

# Without `configs` in the card, `datasets` finds splits by these words in file names.
_SPLIT_IN_NAME = re.compile(r"(?:^|/)(train|validation|test)[-._/]")


class StoredFile(io.RawIOBase):
    """One file of a repo as a seekable binary file, each read a ranged read of the store (git blob, git-lfs object
    or Xet file): pyarrow reads the footer, then only the column chunks it needs."""

    def __init__(self, repo: Repo, entry: Entry):
        super().__init__()
        self._repo = repo
        self._entry = entry
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._entry.size}[whence]
        self._position = max(base + offset, 0)
        return self._position

    def readinto(self, buffer) -> int:
        end = min(self._position + len(buffer), self._entry.size)
        if end <= self._position:
            return 0
        data = b"".join(self._repo.read_range(self._entry, self._position, end - 1))
        view = memoryview(buffer).cast("B")
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


class ContentCache:
    """What was computed from a file's content, kept by content id (least recently used out first): content never
    changes under an id, so nothing here goes stale, and revisions sharing a file share the entry."""

    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


# A footer is a few kilobytes; this holds every shard of a 5M-row release several times over.
_FOOTERS = ContentCache(4096)


def content_id(entry: Entry) -> str:
    """What identifies a file's content: the sha256 of an LFS or Xet file, the git blob id of an inline one."""
    return f"sha256:{entry.lfs.oid}" if entry.lfs else f"git:{entry.oid}"


def open_parquet(repo: Repo, entry: Entry) -> pq.ParquetFile:
    """A parquet file of the repo, its footer read once per content."""
    metadata = _FOOTERS.get(content_id(entry), lambda: pq.ParquetFile(StoredFile(repo, entry)).metadata)
    return pq.ParquetFile(StoredFile(repo, entry), metadata=metadata)


@dataclass(frozen=True)
class Split:
    name: str
    files: tuple[Entry, ...]

    def rows(self, repo: Repo) -> int:
        return sum(open_parquet(repo, entry).metadata.num_rows for entry in self.files)


@dataclass(frozen=True)
class Config:
    name: str
    splits: tuple[Split, ...]

    def split(self, name: str) -> Split | None:
        return next((split for split in self.splits if split.name == name), None)


def configs(files: list[Entry], card: dict[str, Any] | None) -> list[Config]:
    """The configs of a revision, the default first, each with its splits' parquet files in the order `datasets`
    loads them (sorted paths)."""
    parquet = sorted((entry for entry in files if entry.path.endswith(".parquet")), key=lambda entry: entry.path)
    declared = (card or {}).get("configs")
    if not isinstance(declared, list) or not declared:
        found: dict[str, list[Entry]] = {}
        for entry in parquet:
            match = _SPLIT_IN_NAME.search(entry.path)
            if match:
                found.setdefault(match[1], []).append(entry)
        splits = tuple(Split(name, tuple(found[name])) for name in ("train", "validation", "test") if name in found)
        return [Config("default", splits)] if splits else []
    result = []
    for config in declared:
        if not isinstance(config, dict):
            continue
        patterns = _split_patterns(config.get("data_files"))
        splits = tuple(
            Split(name, tuple(entry for entry in parquet if any(glob.fullmatch(entry.path) for glob in globs)))
            for name, globs in patterns.items()
        )
        config_name = str(config.get("config_name", "default"))
        result.append((not config.get("default", config_name == "default"), Config(config_name, splits)))
    return [config for _, config in sorted(result, key=lambda item: item[0])]


def _split_patterns(data_files: Any) -> dict[str, list[re.Pattern[str]]]:
    """`data_files` in any of the card's forms (a pattern, a list of them, or a list of {split, path}) by split."""
    if isinstance(data_files, str):
        return {"train": [_glob(data_files)]}
    patterns: dict[str, list[re.Pattern[str]]] = {}
    for item in data_files if isinstance(data_files, list) else []:
        if isinstance(item, str):
            patterns.setdefault("train", []).append(_glob(item))
        elif isinstance(item, dict) and isinstance(item.get("split"), str):
            paths = item.get("path")
            paths = [paths] if isinstance(paths, str) else paths if isinstance(paths, list) else []
            patterns.setdefault(item["split"], []).extend(_glob(str(path)) for path in paths)
    return patterns


def _glob(pattern: str) -> re.Pattern[str]:
    """A data_files pattern as `datasets` matches it: `*` and `?` stay within one folder, `**` crosses folders."""
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.lstrip("/"))
    wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


def revision_configs(repo: Repo, commit: str) -> list[Config]:
    """The configs of a commit, from its files and its card's `configs`."""
    files = [entry for entry in repo.list_tree(commit, recursive=True) if entry.type == "file"]
    readme = repo.readme_text(commit)
    try:
        card = cardcheck.front_matter(readme) if readme else None
    except cardcheck.CardError:
        card = None
    return configs(files, card)

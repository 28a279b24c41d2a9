"""Checks the YAML front matter of a README (`/api/validate-yaml`) and parses it for `cardData`."""

from __future__ import annotations

import re
from typing import Any

import yaml

from localhub.limits import Limits
from localhub.vocabulary import LICENSES, SIZE_CATEGORIES, TASK_CATEGORIES

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n?---[ \t]*(\r?\n|\Z)", re.DOTALL)
_LANGUAGE = re.compile(r"[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*")

MISSING_METADATA = "Empty or missing yaml metadata in repo card"


class CardError(ValueError):
    """The front matter is not valid YAML or not a mapping."""


class _CardLoader(yaml.SafeLoader):
    """Safe YAML without aliases and with bounded nesting: an alias can multiply a few hundred bytes into gigabytes
    (and a self-referencing anchor into a cycle), and card metadata never needs one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise CardError(
                f"YAML aliases are not allowed in card metadata (alias *{event.anchor} at line "
                f"{event.start_mark.line + 1})"
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > Limits.nesting_depth:
                raise CardError(f"YAML nested deeper than {Limits.nesting_depth} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def front_matter(content: str) -> dict[str, Any] | None:
    """The README's metadata mapping; None when there is no front matter."""
    match = _FRONT_MATTER.match(content)
    if match is None:
        return None
    try:
        data = yaml.load(match.group(1), Loader=_CardLoader)
    except yaml.YAMLError as exc:
        raise CardError(f"Invalid YAML in README.md front matter: {exc}") from exc
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CardError("README.md front matter must be a YAML mapping")
    return data


def body(content: str) -> str:
    """The README's Markdown, after its front matter."""
    match = _FRONT_MATTER.match(content)
    return content[match.end() :] if match else content


def validate(content: str, repo_type: str = "model") -> tuple[list[str], list[str]]:
    """Return (errors, warnings) for a README, as the Hub reports them."""
    try:
        meta = front_matter(content)
    except CardError as exc:
        return [str(exc)], []
    if not meta:
        return [], [MISSING_METADATA]
    errors: list[str] = []
    errors += _check_vocabulary(meta, "license", LICENSES, "a Hub licence id")
    errors += _check_strings(meta, "language")
    errors += [
        f'"language" value {v!r} is not a language code'
        for v in _strings(meta.get("language"))
        if not _LANGUAGE.fullmatch(v)
    ]
    if repo_type == "dataset":
        errors += _check_vocabulary(meta, "task_categories", TASK_CATEGORIES, "a Hub task category")
        errors += _check_vocabulary(meta, "size_categories", SIZE_CATEGORIES, "a Hub size category")
        errors += _check_strings(meta, "task_ids")
        errors += _check_configs(meta.get("configs"))
    if "pretty_name" in meta and not isinstance(meta["pretty_name"], str):
        errors.append('"pretty_name" must be a string')
    return errors, []


def _strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str)]


def _check_strings(meta: dict, key: str) -> list[str]:
    if key not in meta:
        return []
    value = meta[key]
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        return [f'"{key}" must be a string or a list of strings, got {value!r}']
    return []


def _check_vocabulary(meta: dict, key: str, allowed: frozenset[str], what: str) -> list[str]:
    shape = _check_strings(meta, key)
    if shape:
        return shape
    return [
        f'"{key}" value {v!r} is not {what}; see https://huggingface.co/docs/hub for the list'
        for v in _strings(meta.get(key))
        if v not in allowed
    ]


def _check_configs(configs: Any) -> list[str]:
    if configs is None:
        return []
    if not isinstance(configs, list) or not configs:
        return ['"configs" must be a non-empty list of {config_name, data_files}']
    errors, seen, defaults = [], set(), 0
    for i, config in enumerate(configs):
        where = f'"configs[{i}]"'
        if not isinstance(config, dict):
            errors.append(f"{where} must be a mapping")
            continue
        name = config.get("config_name")
        if not isinstance(name, str) or not name:
            errors.append(f'{where} needs a string "config_name"')
        elif name in seen:
            errors.append(f"{where}: duplicate config_name {name!r}")
        seen.add(name)
        defaults += config.get("default") is True
        if "default" in config and not isinstance(config["default"], bool):
            errors.append(f'{where}: "default" must be true or false')
        if "data_files" in config:
            errors += [f"{where}: {e}" for e in _check_data_files(config["data_files"])]
        elif "data_dir" not in config:
            errors.append(f'{where} needs "data_files" or "data_dir"')
    if defaults > 1:
        errors.append('"configs": at most one config may be the default')
    return errors


def _check_data_files(data_files: Any) -> list[str]:
    if isinstance(data_files, str):
        return []
    if not isinstance(data_files, list) or not data_files:
        return ['"data_files" must be a path, a list of paths or a list of {split, path}']
    if all(isinstance(item, str) for item in data_files):
        return []
    errors = []
    for item in data_files:
        if not isinstance(item, dict) or set(item) != {"split", "path"}:
            errors.append(f'"data_files" entry {item!r} must be exactly {{split, path}}')
            continue
        if not isinstance(item["split"], str) or not item["split"]:
            errors.append(f'"data_files" split {item["split"]!r} must be a non-empty string')
        paths = item["path"] if isinstance(item["path"], list) else [item["path"]]
        if not paths or not all(isinstance(p, str) and p for p in paths):
            errors.append(f'"data_files" path of split {item["split"]!r} must be a path or a list of paths')
    return errors

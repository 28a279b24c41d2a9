"""The dataset card of a revision (its `README.md`): the Markdown rendered to HTML with raw HTML escaped, the facts of
its YAML header as the Hub shows them, its BibTeX citation and its first paragraph."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from localhub import cardcheck

# Raw HTML in a card is shown as text, never passed through: the card is written by whoever can push.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_ALIGN = re.compile(r"text-align:(left|right|center)")
_SIZE = re.compile(r"(?:(\S+)<)?n(?:([<>])(\S+))?")


def _aligned_cell(self, tokens: list[Token], index: int, options, env) -> str:
    """Table alignment as a class, not a `style` attribute, which the pages' Content-Security-Policy refuses."""
    token = tokens[index]
    style = token.attrGet("style")
    if style:
        token.attrs.pop("style")
        match = _ALIGN.fullmatch(str(style))
        if match:
            token.attrSet("class", f"align-{match[1]}")
    return self.renderToken(tokens, index, options, env)


for _cell in ("th_open", "td_open"):
    _MARKDOWN.add_render_rule(_cell, _aligned_cell)


@dataclass(frozen=True)
class Fact:
    label: str
    values: list[str]


@dataclass(frozen=True)
class Card:
    metadata: dict[str, Any]
    html: Markup
    citation: str | None
    summary: str
    facts: list[Fact] = field(default_factory=list)

    @property
    def pretty_name(self) -> str | None:
        name = self.metadata.get("pretty_name")
        return name if isinstance(name, str) else None

    @property
    def license(self) -> str | None:
        value = self.metadata.get("license")
        return ", ".join(_strings(value)) or None


def read_card(readme: str | None, formats: list[str]) -> Card:
    """The card of a README (None: the repo has none); `formats` are the data files' kinds (parquet…)."""
    if readme is None:
        return Card({}, Markup(""), None, "", [])
    try:
        metadata = cardcheck.front_matter(readme) or {}
    except cardcheck.CardError:
        metadata = {}
    tokens = _MARKDOWN.parse(cardcheck.body(readme))
    return Card(
        metadata,
        Markup(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})),
        _citation(tokens),
        _summary(tokens),
        _facts(metadata, formats),
    )


def _facts(metadata: dict[str, Any], formats: list[str]) -> list[Fact]:
    """The header's facts, in the Hub's order: tasks, formats, languages, size, tags, licence."""
    facts = [
        Fact("Tasks", [_label(task) for task in _strings(metadata.get("task_categories"))]),
        Fact("Formats", formats),
        Fact("Languages", _strings(metadata.get("language"))),
        Fact("Size", [_size(size) for size in _strings(metadata.get("size_categories"))]),
        Fact("Tags", _strings(metadata.get("tags"))),
        Fact("License", _strings(metadata.get("license"))),
    ]
    return [fact for fact in facts if fact.values]


def _strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value] if value is not None else []
    return [str(item) for item in values if isinstance(item, str | int | float)]


def _label(task: str) -> str:
    return task.replace("-", " ").capitalize()


def _size(category: str) -> str:
    """`n<1K` as `< 1K`, `1K<n<10K` as `1K - 10K`, as the Hub writes size categories."""
    match = _SIZE.fullmatch(category)
    if not match:
        return category
    low, sign, high = match.groups()
    if low and high:
        return f"{low} - {high}"
    if sign:
        return f"{sign} {high}"
    return category


def _citation(tokens: list[Token]) -> str | None:
    blocks = [token.content.strip() for token in tokens if token.type == "fence" and token.info.strip() == "bibtex"]
    return "\n\n".join(blocks) or None


def _summary(tokens: list[Token]) -> str:
    """The card's first paragraph as plain text: the description machines read (Croissant)."""
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and index + 1 < len(tokens):
            return "".join(_plain(child) for child in tokens[index + 1].children or []).strip()
    return ""


def _plain(token: Token) -> str:
    if token.type in ("text", "code_inline"):
        return token.content
    return " " if token.type in ("softbreak", "hardbreak") else ""

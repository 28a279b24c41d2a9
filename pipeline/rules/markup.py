"""Rules on leftover markup: `markup`, `markdown_emphasis`; reads and writes nothing."""

from __future__ import annotations

import re
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.arrow import matches_any
from pipeline.rules.base import Rule
from schema.params import ValidateParams

# RE2 syntax. A tag must be well formed (name, then attributes), so code in prose such as
# `<SubBackward0 object at 0x12904b290>` or a comparison like `a <b and c> d` is not taken for HTML.
MARKUP_PATTERNS: dict[str, str] = {
    "an HTML tag": (
        r"</?[A-Za-z][A-Za-z0-9-]*"
        r"(\s+[A-Za-z_:][-A-Za-z0-9_:.]*(\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*\s*/?>"
    ),
    "an HTML comment": r"<!--|-->",
    "a Liquid/Jinja expression": r"\{\{\s*[A-Za-z_][\w.]*\s*(\|[^{}]*)?\}\}|\{%.*?%\}",
    "a markdown image": r"!\[[^\]]*\]\([^)]*\)",
}
MARKUP = "|".join(f"(?:{pattern})" for pattern in MARKUP_PATTERNS.values())

# Any backtick, or paired `*`/`**` around a word: a lone `*` (a footnote, `x^*` in maths) is not emphasis. Each
# pattern starts with a literal character, so they are scanned for one at a time (`matches_any`).
EMPHASIS = ("`", r"\*\*?[^\s*][^*]*\*")


def _either_side(english: pa.Array, french: pa.Array, patterns: tuple[str, ...]) -> pa.Array:
    return pc.or_(matches_any(english, patterns), matches_any(french, patterns))


def _found(pattern: str, *texts: str | None) -> list[bool]:
    """Whether `pattern` occurs in each text. For the few rows explained, Python's `re` (which reads these patterns
    as RE2 does) spares an Arrow call and a regex compilation per row."""
    compiled = _compiled(pattern)
    return [bool(text and compiled.search(text)) for text in texts]


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _which_sides(english: str | None, french: str | None, pattern: str) -> str:
    hits = _found(pattern, english, french)
    return " and ".join(side for side, hit in zip(("English", "French"), hits, strict=True) if hit)


class Markup(Rule):
    """A side holds HTML/XML tags, HTML comments, Liquid/Jinja `{{ }}`/`{% %}` or markdown images.

    Default `reject`: these come from the page templates, not from the text (`<img src="{{site.baseurl}}/...">`,
    `<br>`, `<!--` left open); a model trained on them learns to emit markup, and the row's text is usually cut
    around the tag.
    """

    reason = "markup"
    screen = MARKUP

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        return self.fired(_either_side(english, french, (MARKUP,)))

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return self.explain_rows(pa.array([english], pa.string()), pa.array([french], pa.string()), params)[0]

    def explain_rows(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> list[str]:
        # A batch's reported rows are scanned for each kind at once: markup is the commonest reason after
        # `misaligned` in the reconstruction and the benchmark corpus, and a search per row and kind costs more than
        # a scan per batch and kind.
        def found(pattern: str) -> tuple[list[bool], list[bool]]:
            english_found, french_found = (
                pc.fill_null(pc.match_substring_regex(side, pattern), False).to_pylist() for side in (english, french)
            )
            return english_found, french_found

        kinds = {kind: found(pattern) for kind, pattern in MARKUP_PATTERNS.items()}
        sides = tuple(zip(("English", "French"), found(MARKUP), strict=True))
        return [
            f"{', '.join(kind for kind, (in_english, in_french) in kinds.items() if in_english[row] or in_french[row])}"
            f" on the {' and '.join(side for side, hits in sides if hits[row])} side"
            for row in range(len(english))
        ]


class MarkdownEmphasis(Rule):
    """A side holds markdown emphasis (`*word*`, `**word**`) or backticks.

    Default `flag`: the course notes mark terms and code this way on both sides, so the text is a good
    translation; consumers who want plain text can strip the marks, and the flag tells them which rows to touch.
    """

    reason = "markdown_emphasis"

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        return self.fired(_either_side(english, french, EMPHASIS))

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        return f"markdown emphasis or backticks on the {_which_sides(english, french, '|'.join(EMPHASIS))} side"

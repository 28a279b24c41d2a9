"""Rules on characters: `control_characters`; reads and writes nothing."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.rules.base import Rule
from schema.params import ValidateParams

# RE2 syntax. Tab and newline are absent because normalisation has already turned them into spaces.
_CONTROL_SET = r"\x{00}-\x{08}\x{0B}-\x{1F}\x{7F}-\x{9F}\x{FFFD}"
_CONTROL = f"[{_CONTROL_SET}]"


class ControlCharacters(Rule):
    """A side holds a C0 or C1 control character other than tab and newline, or U+FFFD.

    Default `reject`: these are traces of a broken conversion (a wrong encoding guessed somewhere upstream, a
    byte lost); the text around them cannot be trusted. Lone surrogates cannot reach this rule: Arrow strings are
    valid UTF-8, and ingest rejects records with undecodable bytes before they become rows.
    """

    reason = "control_characters"
    screen = _CONTROL

    def check(self, english: pa.Array, french: pa.Array, params: ValidateParams) -> pa.Array:
        return self.fired(
            pc.or_(pc.match_substring_regex(english, _CONTROL), pc.match_substring_regex(french, _CONTROL))
        )

    def explain(self, english: str | None, french: str | None, params: ValidateParams) -> str:
        only_controls = pc.replace_substring_regex(pa.array([english, french], pa.string()), f"[^{_CONTROL_SET}]+", "")
        found = sorted({f"U+{ord(char):04X}" for side in only_controls.to_pylist() for char in side or ""})
        return f"control or replacement characters: {', '.join(found)}"

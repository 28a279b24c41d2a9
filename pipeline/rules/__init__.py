"""The validation rules, in the stable order in which they run and report; reads and writes nothing.

To add a rule: write a `Rule` subclass in the module of its family (or a new module) with a snake_case `reason`,
a docstring giving its rationale and default action, a vectorised `check` and an `explain` (a rule that learns
from the corpus is a `LearningRule`, with a `learn`); append an instance to
`RULES`; add its reason with its default action to `ValidateParams.Rules` in `schema/params.py` and to the
`validate.rules` section of `params.yaml`; add parametrised cases to `tests/pipeline/rules/`. When a rule's meaning
changes, give it a new reason code rather than reusing the old one, so that metrics stay comparable.
"""

from __future__ import annotations

from pipeline.rules.alignment import Misaligned
from pipeline.rules.base import LearningRule, Rule
from pipeline.rules.characters import ControlCharacters
from pipeline.rules.emptiness import EmptyEnglish, EmptyFrench
from pipeline.rules.language import WrongLanguage
from pipeline.rules.length import IdenticalSides, LengthRatio, TooLong
from pipeline.rules.markup import MarkdownEmphasis, Markup

RULES: tuple[Rule, ...] = (
    EmptyEnglish(),
    EmptyFrench(),
    TooLong(),
    ControlCharacters(),
    Markup(),
    WrongLanguage(),
    LengthRatio(),
    Misaligned(),
    IdenticalSides(),
    MarkdownEmphasis(),
)

BY_REASON: dict[str, Rule] = {rule.reason: rule for rule in RULES}

__all__ = ["BY_REASON", "RULES", "LearningRule", "Rule"]

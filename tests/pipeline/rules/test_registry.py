"""Tests of pipeline/rules/__init__.py: the registry, the params and params.yaml agree."""

from __future__ import annotations

import re

import yaml

from pipeline.rules import BY_REASON, RULES
from schema.params import ValidateParams
from tests.helpers import REPO


def test_reason_codes_are_unique_snake_case():
    reasons = [rule.reason for rule in RULES]
    assert len(set(reasons)) == len(reasons)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", reason) for reason in reasons)


def test_every_rule_has_an_action_in_params_and_params_yaml():
    params_yaml = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))["validate"]["rules"]
    assert list(ValidateParams.Rules.model_fields) == list(BY_REASON)
    assert params_yaml == ValidateParams.Rules().model_dump(), "params.yaml shows every default explicitly"


def test_every_rule_documents_its_default_action():
    defaults = ValidateParams.Rules()
    for rule in RULES:
        assert f"Default `{getattr(defaults, rule.reason)}`" in (type(rule).__doc__ or ""), rule.reason

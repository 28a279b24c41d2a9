"""Tests of pipeline/rules/emptiness.py."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("english", "french", "expected"),
    [
        ("Problem Motivation, Linear Algebra, and Visualization", None, {"empty_french"}),
        ("Course plan", "", {"empty_french"}),
        ("Course plan", " \t\n ", {"empty_french"}),
        (None, "Plan du cours", {"empty_english"}),
        ("   ", "Plan du cours", {"empty_english"}),
        (None, None, {"empty_english", "empty_french"}),
        ("Course plan", "Plan du cours", set()),
        ("ReLU", "ReLU", set()),
    ],
)
def test_empty_sides(fires, english, french, expected):
    found = {reason for reason in ("empty_english", "empty_french") if fires(reason, english, french)}
    assert found == expected

"""Tests of pipeline/rules/characters.py."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.rules.characters import ControlCharacters
from schema.params import ValidateParams


@pytest.mark.parametrize(
    ("english", "french", "fired"),
    [
        ("Course\x00plan", "Plan du cours", True),
        ("Course plan", "Plan du cours\x1b[0m", True),
        ("Course plan", "Plan du cours\x85", True),
        ("Course plan", "Plan du cours\x7f", True),
        ("Caf\ufffd", "Café", True),
        ("Course\tplan\r\n", "Plan\ndu cours", False),
        ("Note: the gradient", "Note\u00a0: le gradient «\u202fprofond\u202f»", False),
        ("L’apprentissage", "L’apprentissage supervisé", False),
        (None, "Plan du cours", False),
    ],
)
def test_control_characters(fires, english, french, fired):
    assert fires("control_characters", english, french) is fired


def test_control_characters_message_names_the_code_points():
    message = ControlCharacters().explain("Course\x00plan", "Caf\ufffd\x85", ValidateParams())
    assert "U+0000" in message and "U+0085" in message and "U+FFFD" in message


def test_lone_surrogates_cannot_become_arrow_strings():
    with pytest.raises(UnicodeEncodeError):
        pa.array(["\udc80"], pa.string())

"""Tests of localhub/ranges.py: the one `bytes=` range the clients send."""

from __future__ import annotations

import pytest

from localhub.ranges import parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=95-200", 100, (95, 99)),
        ("bytes=100-", 100, "unsatisfiable"),
        ("bytes=-0", 100, "unsatisfiable"),
        ("bytes=5-1", 100, None),
        ("bytes=0-1,5-9", 100, None),
        ("items=0-9", 100, None),
        (None, 100, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected

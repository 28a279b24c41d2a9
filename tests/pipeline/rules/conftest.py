"""A fixture that runs one rule on one pair, normalised as the stage normalises it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from pipeline.rules import BY_REASON
from schema.pair import normalize
from schema.params import ValidateParams


@pytest.fixture
def fires() -> Callable[..., bool]:
    def check(reason: str, english: str | None, french: str | None, **params: Any) -> bool:
        settings = ValidateParams(**params)
        columns = (normalize(pa.array([side], pa.string())) for side in (english, french))
        result = BY_REASON[reason].check(*columns, settings)
        assert len(result) == 1
        code = result[0].as_py()
        assert code in (None, reason), "a rule reports only its own reason code"
        return code is not None

    return check

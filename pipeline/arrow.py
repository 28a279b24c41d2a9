"""Arrow helpers the stages and the row model share; reads and writes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc


def rewrite_where(texts: pa.Array, needs: pa.Array, transform: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`transform` applied only to the texts where `needs` is true (a null counts as false), the others kept as they
    are: a rewrite costs more than the scan that picks its rows, and most texts need none."""
    chosen = pc.fill_null(needs, False)
    if not pc.any(chosen).as_py():
        return texts
    return pc.replace_with_mask(texts, chosen, transform(pc.filter(texts, chosen)).cast(texts.type))

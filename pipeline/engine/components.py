"""Connected components of the key graph, in NumPy: from the rows' key hashes to each row's group and what it holds.

The keys are numbered as the graph's nodes, and each row is an edge from its English key to its French key.

Everything is held as a few integers per row or per key; no Python object is made per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# The smallest-id slot of a node that names no component.
NO_ID = np.iinfo(np.uint64).max
# Rows whose mapped value `Groups.map_smallest_id` computes at once: the mapping may need several 64-bit temporaries
# per row.
CHUNK_ROWS = 1 << 20


def numbered(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, sorted, and the 32-bit index of each value among them: `np.unique` with
    `return_inverse`, with fewer copies held at once and a 32-bit index (there must be fewer than 2**31 distinct
    values)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    # Each copy is dropped as soon as it has been used, so that fewer are held at once; `values` too, which frees a
    # caller's array that was handed over.
    del values
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    distinct = ordered[first]
    del ordered
    at = np.empty(len(order), dtype=np.int32)
    at[order] = np.cumsum(first, dtype=np.int32) - 1
    return distinct, at


def components(left: np.ndarray, right: np.ndarray, nodes: int) -> np.ndarray:
    """Connected-component label (its smallest node) of each edge `left[i]`–`right[i]`, by min-label hooking."""
    parent = np.arange(nodes, dtype=left.dtype)
    while True:
        left_root, right_root = parent[left], parent[right]
        if np.array_equal(left_root, right_root):
            return left_root
        lower = np.minimum(left_root, right_root)
        np.minimum.at(parent, left_root, lower)
        np.minimum.at(parent, right_root, lower)
        while not np.array_equal(grand := parent[parent], parent):
            parent = grand


@dataclass(frozen=True)
class KeyGraph:
    """The key graph: row i joins English-key node `left[i]` to French-key node `right[i]` (the French nodes are
    numbered after the English ones); `node_pin` is the pin of each node's key, an int8 code of the caller's."""

    left: np.ndarray
    right: np.ndarray
    node_pin: np.ndarray

    @classmethod
    def of(
        cls, hashes: dict[str, np.ndarray], pin_of: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    ) -> KeyGraph:
        """The graph of the rows whose English and French key hashes are `hashes["english"]` and `hashes["french"]`;
        `pin_of(english_keys, french_keys)` gives the pins of the distinct keys. Takes the two columns out of
        `hashes`, so that each is freed once numbered."""
        english_nodes, left = numbered(hashes.pop("english"))
        french_nodes, right = numbered(hashes.pop("french"))
        right += len(english_nodes)
        return cls(left, right, np.concatenate(pin_of(english_nodes, french_nodes)))

    @property
    def nodes(self) -> int:
        return len(self.node_pin)


@dataclass(frozen=True)
class Groups:
    """The connected components ("groups") of the key graph over its active rows, and per active row: its group's
    label node, and the lowest and highest pin among its group's keys. `smallest_id` holds, at each group's label
    node, the smallest 64-bit id of the group's rows, and `NO_ID` at the other nodes."""

    rows: slice | np.ndarray
    row_count: int
    label: np.ndarray
    smallest_id: np.ndarray
    lowest_pin: np.ndarray
    highest_pin: np.ndarray

    @classmethod
    def of(cls, graph: KeyGraph, ids: np.ndarray, active: np.ndarray, unpinned: int) -> Groups:
        """The groups of the rows where `active` is true, whose 64-bit ids are `ids`; a key whose pin is `unpinned`
        has none, and a group without a pinned key has `unpinned` as its highest pin."""
        # Without inactive rows (the usual case) the full arrays are used as they are, not copied.
        rows = slice(None) if active.all() else np.flatnonzero(active)
        left, right, active_ids = graph.left[rows], graph.right[rows], ids[rows]
        label = components(left, right, graph.nodes)
        smallest_id = np.full(graph.nodes, NO_ID, dtype=np.uint64)
        np.minimum.at(smallest_id, label, active_ids)
        # The copies made when some rows are inactive are dropped as soon as they have been used.
        del active_ids
        lowest = np.full(graph.nodes, np.iinfo(np.int8).max, dtype=np.int8)
        highest = np.full(graph.nodes, unpinned, dtype=np.int8)
        for side in (left, right):
            side_pins = graph.node_pin[side]
            has_pin = side_pins != unpinned
            np.minimum.at(lowest, label[has_pin], side_pins[has_pin])
            np.maximum.at(highest, label[has_pin], side_pins[has_pin])
        return cls(rows, len(graph.left), label, smallest_id, lowest[label], highest[label])

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.smallest_id != NO_ID))

    def map_smallest_id(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """`function` (64-bit ids to int8 codes) of the smallest id of each active row's group, computed
        `CHUNK_ROWS` rows at a time."""
        mapped = np.empty(len(self.label), dtype=np.int8)
        for start in range(0, len(self.label), CHUNK_ROWS):
            chunk = slice(start, start + CHUNK_ROWS)
            mapped[chunk] = function(self.smallest_id[self.label[chunk]])
        return mapped

    def spread(self, values: np.ndarray, fill: object) -> np.ndarray:
        """`values` of the active rows put at their places among all the graph's rows, with `fill` at the others."""
        placed = np.full(self.row_count, fill, dtype=values.dtype)
        placed[self.rows] = values
        return placed

"""Tests of pipeline/engine/components.py: key numbering, connected components and per-group reductions, against
plain-Python references on small graphs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.engine import components as components_module
from pipeline.engine.components import NO_ID, Groups, KeyGraph, components, numbered

UNPINNED = -1
SMALL = settings(max_examples=200, deadline=None)


def union_find_roots(edges: list[tuple[int, int]], nodes: int) -> list[int]:
    """Plain union-find: the smallest node of each node's component."""
    parent = list(range(nodes))

    def root(node: int) -> int:
        while parent[node] != node:
            node = parent[node]
        return node

    for left, right in edges:
        low, high = sorted((root(left), root(right)))
        parent[high] = low
    return [root(node) for node in range(nodes)]


# A graph as its node count and its edges.
Graph = tuple[int, list[tuple[int, int]]]


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    nodes = draw(st.integers(1, 30))
    edges = draw(st.lists(st.tuples(st.integers(0, nodes - 1), st.integers(0, nodes - 1)), max_size=40))
    return nodes, edges


@SMALL
@given(graphs())
def test_each_edge_is_labelled_with_the_smallest_node_of_its_component(graph: Graph) -> None:
    nodes, edges = graph
    left = np.array([edge[0] for edge in edges], dtype=np.int32)
    right = np.array([edge[1] for edge in edges], dtype=np.int32)
    roots = union_find_roots(edges, nodes)
    assert components(left, right, nodes).tolist() == [roots[edge[0]] for edge in edges]


@SMALL
@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 5), max_size=50))
def test_numbered_is_np_unique_with_its_inverse(values: list[int]) -> None:
    array = np.array(values, dtype=np.uint64)
    distinct, at = numbered(array.copy())
    expected_distinct, expected_at = np.unique(array, return_inverse=True)
    assert distinct.tolist() == expected_distinct.tolist()
    assert at.dtype == np.int32
    assert at.tolist() == expected_at.tolist()


def test_the_key_graph_numbers_french_keys_after_english_ones_and_takes_its_columns() -> None:
    hashes = {
        "english": np.array([7, 3, 7], np.uint64),
        "french": np.array([5, 5, 9], np.uint64),
        "id": np.array([1, 2, 3], np.uint64),
    }
    asked = []

    def pin_of(english: np.ndarray, french: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        asked.append((english.tolist(), french.tolist()))
        return np.array([0, UNPINNED], np.int8), np.array([UNPINNED, 2], np.int8)

    graph = KeyGraph.of(hashes, pin_of)
    assert set(hashes) == {"id"}
    assert asked == [([3, 7], [5, 9])]
    assert graph.left.tolist() == [1, 0, 1]
    assert graph.right.tolist() == [2, 2, 3]
    assert graph.node_pin.tolist() == [0, UNPINNED, UNPINNED, 2]
    assert graph.nodes == 4


@st.composite
def pinned_graphs(draw: st.DrawFn) -> tuple[KeyGraph, np.ndarray, np.ndarray]:
    english_keys, french_keys = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    rows = draw(st.integers(1, 25))
    left = draw(st.lists(st.integers(0, english_keys - 1), min_size=rows, max_size=rows))
    right = draw(st.lists(st.integers(english_keys, english_keys + french_keys - 1), min_size=rows, max_size=rows))
    pins = draw(
        st.lists(
            st.sampled_from([UNPINNED, 0, 1, 2]),
            min_size=english_keys + french_keys,
            max_size=english_keys + french_keys,
        )
    )
    ids = draw(st.lists(st.integers(0, 2**64 - 2), min_size=rows, max_size=rows, unique=True))
    active = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
    graph = KeyGraph(np.array(left, np.int32), np.array(right, np.int32), np.array(pins, np.int8))
    return graph, np.array(ids, np.uint64), np.array(active, bool)


@SMALL
@given(pinned_graphs())
def test_groups_hold_the_smallest_id_and_the_pin_range_of_their_active_rows(
    case: tuple[KeyGraph, np.ndarray, np.ndarray],
) -> None:
    graph, ids, active = case
    groups = Groups.of(graph, ids, active, UNPINNED)
    active_rows = np.flatnonzero(active).tolist()
    roots = union_find_roots([(int(graph.left[row]), int(graph.right[row])) for row in active_rows], graph.nodes)
    members: dict[int, list[int]] = {}
    for row in active_rows:
        members.setdefault(roots[int(graph.left[row])], []).append(row)
    assert groups.count == len(members)
    assert groups.label.tolist() == [roots[int(graph.left[row])] for row in active_rows]
    for label, rows in members.items():
        assert groups.smallest_id[label] == min(int(ids[row]) for row in rows)
        pins = {int(graph.node_pin[node]) for row in rows for node in (graph.left[row], graph.right[row])} - {UNPINNED}
        for row in rows:
            at = active_rows.index(row)
            assert groups.lowest_pin[at] == (min(pins) if pins else np.iinfo(np.int8).max)
            assert groups.highest_pin[at] == (max(pins) if pins else UNPINNED)
    assert all(value == NO_ID for node, value in enumerate(groups.smallest_id.tolist()) if node not in members)
    spread = groups.spread(np.arange(len(active_rows), dtype=np.int64) + 10, fill=-5)
    assert spread.tolist() == [10 + active_rows.index(row) if active[row] else -5 for row in range(len(ids))]


@pytest.mark.parametrize("chunk_rows", [1, 3, 1 << 20])
def test_map_smallest_id_gives_the_same_codes_whatever_the_chunk(monkeypatch, chunk_rows: int) -> None:
    rng = np.random.default_rng(3)
    left = rng.integers(0, 40, 200).astype(np.int32)
    right = rng.integers(40, 90, 200).astype(np.int32)
    graph = KeyGraph(left, right, np.full(90, UNPINNED, np.int8))
    ids = rng.integers(0, 2**63, 200, dtype=np.uint64)
    monkeypatch.setattr(components_module, "CHUNK_ROWS", chunk_rows)
    groups = Groups.of(graph, ids, np.ones(200, bool), UNPINNED)
    mapped = groups.map_smallest_id(lambda smallest: (smallest % np.uint64(7)).astype(np.int8))
    assert mapped.tolist() == [int(groups.smallest_id[label]) % 7 for label in groups.label.tolist()]

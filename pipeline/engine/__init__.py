"""What keeps the split stage fast and its memory bounded; reads and writes only the stage's scratch files and parts.

Two passes over the input, on the engine's workers (`pipeline.parallel`), with one global step between them, on the
stage's own process:

- `key_pass`: each worker keys the row group it takes (ids, key digests, input positions) and writes the keyed rows,
  cut into id-range buckets, to a scratch part; only the rows' 64-bit hashes travel back.
- `components`: the global step numbers the keys as the nodes of a graph whose edges are the rows, and finds its
  connected components and what each holds, with a few integers per row in memory.
- `buckets`: the second pass reads each bucket back whole on any worker, sorts it by id and writes it as one part
  of the output, so the parts in name order hold the rows in id order.

What is decided along the way (duplicates, groups, splits, pinning, reports) is `pipeline.split`'s.
"""

"""The release pipeline: one module per DVC stage (ingest, validate, split, build, publish) and what they share."""

import os

# Arrow reads its allocator from this variable when pyarrow is first imported, which in a stage happens after this
# line (its workers are forked from it and keep its allocator). jemalloc hands freed memory back sooner than the
# default, mimalloc: on the 1M-row benchmark each stage peaks 50 to 100 MiB lower, as fast (build: 546 -> 400 MiB).
# Split, whose workers churn through memory, chooses otherwise (see pipeline.split.main).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

"""The I/O floor: streams the raw CSV into one zstd parquet file with Arrow, and does nothing else.

Usage: python bench/floor.py SOURCE.csv TARGET.parquet
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def main(source: str, target: str) -> int:
    reader = pacsv.open_csv(
        source,
        # 1 MiB blocks, as the ingest stage reads, keep memory flat in the file size.
        read_options=pacsv.ReadOptions(block_size=1 << 20),
        # Records with a wrong field count are dropped: the floor reads, it does not account for damage.
        parse_options=pacsv.ParseOptions(
            delimiter=";", newlines_in_values=True, invalid_row_handler=lambda row: "skip"
        ),
        convert_options=pacsv.ConvertOptions(column_types={"English": pa.string(), "French": pa.string()}),
    )
    rows = 0
    with pq.ParquetWriter(target, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    print(f"floor: {rows:,} rows written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

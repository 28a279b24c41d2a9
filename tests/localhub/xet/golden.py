"""Regenerates the inputs of the hf_xet 1.8.0 uploads captured in tests/data/xet/ and names the captured files."""

from __future__ import annotations

import random
import struct
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "xet"

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")


def random_input() -> bytes:
    return random.Random(1).randbytes(300_000)


def text_input() -> bytes:
    generator = random.Random(2)
    lines: list[str] = []
    size = 0
    while size < 200_000:
        line = f"{len(lines):06d} " + " ".join(generator.choice(WORDS) for _ in range(12)) + "\n"
        lines.append(line)
        size += len(line)
    return "".join(lines).encode("ascii")[:200_000]


def floats_input() -> bytes:
    # Multiples of 1/1024 below 1024 in magnitude are exact in float32, so no platform rounding can change the bytes.
    generator = random.Random(3)
    return struct.pack("<40000f", *(generator.randrange(-(2**20), 2**20) / 1024 for _ in range(40000)))


# Each shard fixture with the inputs of the upload that sent it.
SHARD_INPUTS = {
    "three-files.shard": {"random.bin": random_input, "text.txt": text_input, "floats.f32": floats_input},
    "empty-and-hello.shard": {"empty.bin": lambda: b"", "hello.txt": lambda: b"hello"},
}


def xorb_paths() -> list[Path]:
    return sorted(DATA_DIR.glob("*.xorb"))

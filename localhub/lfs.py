"""Git LFS: the pointer files git stores in place of large content, and the checked object store behind them."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from localhub.gitattributes import routes_to_lfs
from localhub.ranges import READ_CHUNK, read_file_range

POINTER_VERSION = "https://git-lfs.github.com/spec/v1"
# The Hub sends any file above this size to LFS, whatever `.gitattributes` says.
LARGE_FILE_BYTES = 10 * 1024 * 1024
SAMPLE_BYTES = 512
# git-lfs itself refuses to read a pointer larger than this, so no larger blob needs parsing.
MAX_POINTER_SIZE = 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")
_POINTER = re.compile(
    rb"version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (0|[1-9][0-9]*)\n"
)


class ObjectError(ValueError):
    """An uploaded object does not match the sha256 or the size it was announced with."""


@dataclass(frozen=True)
class Pointer:
    """What an LFS pointer file says: the content's sha256 and size."""

    oid: str
    size: int

    def encode(self) -> bytes:
        return f"version {POINTER_VERSION}\noid sha256:{self.oid}\nsize {self.size}\n".encode()


def parse_pointer(blob: bytes) -> Pointer | None:
    """The pointer a blob holds, if it is one (the canonical form git-lfs writes)."""
    if len(blob) > MAX_POINTER_SIZE:
        return None
    match = _POINTER.fullmatch(blob)
    return Pointer(match[1].decode(), int(match[2])) if match else None


def upload_mode(gitattributes: str, path: str, size: int, sample: bytes) -> str:
    """`lfs` or `regular`, as the Hub answers a preupload: LFS for what `.gitattributes` routes there, for large files
    and for binary content (judged from the first 512 bytes the client sends)."""
    if size > LARGE_FILE_BYTES or routes_to_lfs(gitattributes, path) or is_binary(sample, size):
        return "lfs"
    return "regular"


def is_binary(sample: bytes, size: int) -> bool:
    if b"\x00" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The client sends the first 512 bytes, which can end inside a character: only an error before the last
        # three bytes of a cut sample counts.
        cut = size > len(sample) == SAMPLE_BYTES
        return not (cut and exc.reason == "unexpected end of data" and exc.start >= len(sample) - 3)
    return False


def is_sha256(text: str) -> bool:
    return bool(_SHA256.fullmatch(text))


class ObjectStore:
    """LFS objects as files named by their sha256, under `root/ab/cd/<oid>`; a file is there only once complete."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, oid: str) -> Path:
        if not is_sha256(oid):
            raise ObjectError(f"{oid!r} is not a sha256 in lowercase hex")
        return self.root / oid[:2] / oid[2:4] / oid

    def has(self, oid: str, size: int | None = None) -> bool:
        try:
            stat = self.path(oid).stat()
        except (OSError, ObjectError):
            return False
        return size is None or stat.st_size == size

    def put(self, oid: str, size: int, parts: Iterable[bytes]) -> None:
        """Store the bytes of `parts` as object `oid`, after checking that they hash and measure as announced."""
        target = self.path(oid)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, written = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    written += len(part)
                    if written > size:
                        raise ObjectError(f"object {oid} is larger than its announced {size} bytes")
                    digest.update(part)
                    out.write(part)
            if written != size:
                raise ObjectError(f"object {oid} has {written} bytes, {size} were announced")
            if digest.hexdigest() != oid:
                raise ObjectError(f"object content hashes to sha256 {digest.hexdigest()}, not {oid}")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def read_range(self, oid: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start..end` (inclusive) of an object."""
        return read_file_range(self.path(oid), start, end)


def file_parts(fh: BinaryIO) -> Iterator[bytes]:
    while chunk := fh.read(READ_CHUNK):
        yield chunk

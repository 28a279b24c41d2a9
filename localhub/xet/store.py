"""The Xet content-addressed store: xorbs (shared, checked against their hash), files registered per repo from
uploaded shards, and the byte ranges of a file read back through its reconstruction terms."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from localhub.xet import hashing, shard, xorb


class XetError(ValueError):
    """An upload that breaks the protocol: a xorb whose hash is wrong, a shard naming unknown data, and so on."""


@dataclass(frozen=True)
class Term:
    """Chunks `[start, end)` of a xorb, `size` bytes once decompressed."""

    xorb: str
    start: int
    end: int
    size: int


@dataclass(frozen=True)
class XetFile:
    """A file known to a repo through a shard: its Xet hash, sha256, size and reconstruction."""

    file_hash: str
    sha256: str
    size: int
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Span:
    """The part of one term that a byte range needs: chunks `[start, end)` of `xorb` and their place in the xorb."""

    xorb: str
    start: int
    end: int
    size: int
    byte_start: int
    byte_end: int


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class XorbStore:
    """Xorbs under `root/xorbs/ab/<hash>`, each beside its chunk index; a xorb is visible only once both are whole."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, xorb_hash: str) -> Path:
        hashing.hex_to_hash(xorb_hash)
        return self.root / "xorbs" / xorb_hash[:2] / xorb_hash

    def has(self, xorb_hash: str) -> bool:
        return self._path(xorb_hash).is_file()

    def put(self, xorb_hash: str, body: BinaryIO, length: int) -> bool:
        """Store a serialized xorb read from `body` once its chunks hash to `xorb_hash`; False if it was known."""
        target = self._path(xorb_hash)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as sink:
                chunks = xorb.read_xorb(body, length, sink)
            found = hashing.hash_to_hex(hashing.xorb_hash([(c.hash, c.size) for c in chunks]))
            if found != xorb_hash:
                raise XetError(f"xorb content hashes to {found}, not {xorb_hash}")
            _atomic_write(target.with_suffix(".idx"), xorb.encode_index(chunks))
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return True

    def chunks(self, xorb_hash: str) -> tuple[xorb.Chunk, ...]:
        return _read_index(self._path(xorb_hash).with_suffix(".idx"))

    def read(self, span: Span) -> Iterator[bytes]:
        """The decompressed chunks of a span, one at a time."""
        with open(self._path(span.xorb), "rb") as fh:
            yield from xorb.read_chunks(fh, self.chunks(span.xorb)[span.start : span.end])

    def path(self, xorb_hash: str) -> Path:
        return self._path(xorb_hash)


@lru_cache(maxsize=256)
def _read_index(path: Path) -> tuple[xorb.Chunk, ...]:
    return tuple(xorb.decode_index(path.read_bytes()))


class FileRegistry:
    """The Xet files one repo may reference, under `<git dir>/xet/`, by Xet hash and by sha256."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def get(self, file_hash: str) -> XetFile | None:
        try:
            record = json.loads((self.root / "files" / f"{file_hash}.json").read_text())
        except (OSError, ValueError):
            return None
        return XetFile(
            record["file_hash"], record["sha256"], record["size"], tuple(Term(*term) for term in record["terms"])
        )

    def by_sha256(self, oid: str) -> XetFile | None:
        try:
            file_hash = (self.root / "sha256" / oid).read_text().strip()
        except OSError:
            return None
        return self.get(file_hash)

    def register(self, file: XetFile) -> None:
        record = {
            "file_hash": file.file_hash,
            "sha256": file.sha256,
            "size": file.size,
            "terms": [[t.xorb, t.start, t.end, t.size] for t in file.terms],
        }
        # The reconstruction first, then the sha256 link that makes it reachable from a commit.
        _atomic_write(self.root / "files" / f"{file.file_hash}.json", json.dumps(record).encode())
        _atomic_write(self.root / "sha256" / file.sha256, file.file_hash.encode())


def spans(xorbs: XorbStore, file: XetFile, start: int, end: int) -> tuple[int, list[Span]]:
    """The chunk runs that cover bytes `start..end` (inclusive) of a file, and where `start` falls in the first."""
    found, offset, position = [], 0, 0
    for term in file.terms:
        if position + term.size <= start:
            position += term.size
            continue
        if position > end:
            break
        chunks = xorbs.chunks(term.xorb)
        first, last = term.start, term.end
        while position + chunks[first].size <= start:
            position += chunks[first].size
            first += 1
        if not found:
            offset = start - position
        needed = sum(c.size for c in chunks[first : term.end])
        tail = position + needed - 1
        while last - 1 > first and tail - chunks[last - 1].size >= end:
            tail -= chunks[last - 1].size
            last -= 1
        run = chunks[first:last]
        found.append(Span(term.xorb, first, last, sum(c.size for c in run), run[0].start, run[-1].end - 1))
        position += needed
    return offset, found


def read_range(xorbs: XorbStore, file: XetFile, start: int, end: int) -> Iterator[bytes]:
    """Bytes `start..end` (inclusive) of a file, rebuilt chunk by chunk from its xorbs."""
    offset, runs = spans(xorbs, file, start, end)
    remaining = end - start + 1
    for run in runs:
        for data in xorbs.read(run):
            if offset >= len(data):
                offset -= len(data)
                continue
            piece = data[offset : offset + remaining]
            offset = 0
            remaining -= len(piece)
            yield piece
            if remaining == 0:
                return


def check_shard(xorbs: XorbStore, parsed: shard.Shard, progress: Callable[[int, int], None]) -> list[XetFile]:
    """The files of an uploaded shard, each checked against the stored xorbs down to its sha256.

    `progress(done, total)` is called with bytes checked as the content is read back. Nothing is registered here:
    the caller registers the files once all have passed."""
    for info in parsed.xorbs:
        if not xorbs.has(hashing.hash_to_hex(info.xorb)):
            raise XetError(f"the shard lists xorb {hashing.hash_to_hex(info.xorb)}, which was never uploaded")
    checked: list[XetFile] = []
    total, done = sum(t.size for info in parsed.files for t in info.terms), 0
    for index, info in enumerate(parsed.files):
        name = hashing.hash_to_hex(info.file_hash)
        if info.sha256 is None:
            raise XetError(f"file {index} ({name}) has no sha256: a git repo needs it for the LFS pointer")
        if info.verification is None:
            raise XetError(f"file {index} ({name}) has no verification entries")
        terms, leaves = [], []
        for number, (term, proof) in enumerate(zip(info.terms, info.verification, strict=True)):
            xorb_name = hashing.hash_to_hex(term.xorb)
            if not xorbs.has(xorb_name):
                raise XetError(f"file {name}, term {number}: xorb {xorb_name} was never uploaded")
            chunks = xorbs.chunks(xorb_name)
            if term.chunk_end > len(chunks):
                raise XetError(
                    f"file {name}, term {number}: chunks {term.chunk_start}..{term.chunk_end} "
                    f"are past the {len(chunks)} of xorb {xorb_name}"
                )
            run = chunks[term.chunk_start : term.chunk_end]
            if sum(c.size for c in run) != term.size:
                raise XetError(
                    f"file {name}, term {number}: {term.size} bytes announced, the chunks hold "
                    f"{sum(c.size for c in run)}"
                )
            if hashing.verification_hash([c.hash for c in run]) != proof:
                raise XetError(f"file {name}, term {number}: the verification hash does not match the chunks")
            terms.append(Term(xorb_name, term.chunk_start, term.chunk_end, term.size))
            leaves += [(c.hash, c.size) for c in run]
        if hashing.hash_to_hex(hashing.file_hash(leaves)) != name:
            raise XetError(f"file {name}: its terms hash to {hashing.hash_to_hex(hashing.file_hash(leaves))}")
        file = XetFile(name, info.sha256.hex(), sum(t.size for t in terms), tuple(terms))
        digest = hashlib.sha256()
        for data in read_range(xorbs, file, 0, file.size - 1) if file.size else ():
            digest.update(data)
            done += len(data)
            progress(done, total)
        if digest.hexdigest() != file.sha256:
            raise XetError(
                f"file {name}: its content hashes to sha256 {digest.hexdigest()}, the shard says {file.sha256}"
            )
        checked.append(file)
    return checked

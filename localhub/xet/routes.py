"""The Xet CAS API under `/cas` (protocol spec v1): xorb and shard uploads, file reconstructions, and the presigned
xorb byte ranges that reconstructions point at."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from localhub import errors
from localhub.errors import HubError
from localhub.ranges import parse_range, read_file_range
from localhub.signing import Grant, GrantError
from localhub.storage import Repo
from localhub.xet import hashing
from localhub.xet.shard import ShardFormatError, parse_shard
from localhub.xet.store import XetError, check_shard, spans
from localhub.xet.xorb import XorbFormatError

# The spec's limit on a shard upload.
MAX_SHARD_BYTES = 64 * 1024 * 1024
FETCH_TTL = 900
# hf_xet reads the /v2/shards stream with a read timeout, so progress goes out at least this often.
PROGRESS_INTERVAL_SECONDS = 2.0


class CasRoutes:
    """Mixed into the request handler: every request under `/cas/`."""

    def _route_cas(self, method: str, seg: list[str]) -> None:
        if method == "GET" and len(seg) == 2 and seg[0] == "fetch":
            self._cas_fetch(seg[1])
            return
        grant = self._cas_grant()
        if method == "POST" and len(seg) == 4 and seg[:2] == ["v1", "xorbs"]:
            self._cas_put_xorb(grant, seg[2], seg[3])
        elif method == "POST" and seg in (["v1", "shards"], ["v2", "shards"]):
            self._cas_put_shard(grant, streaming=seg[0] == "v2")
        elif method == "GET" and len(seg) == 3 and seg[:2] == ["v2", "reconstructions"]:
            self._cas_reconstruction(grant, seg[2])
        elif method == "GET" and seg[:2] == ["v1", "chunks"]:
            # A 404 is the spec's "not known" answer: this server offers no global deduplication, so uploads
            # deduplicate only within what the client itself sends.
            raise HubError(404, "Chunk not tracked by global deduplication")
        else:
            raise HubError(404, "Not found")

    def _cas_grant(self) -> Grant:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise errors.unauthenticated(
                "A Xet access token is required; get one from xet-read-token or xet-write-token"
            )
        try:
            return self.server.signer.check(token.strip())
        except (GrantError, ValueError) as exc:
            raise errors.unauthenticated(f"Xet access token refused: {exc}; get a new one from the Hub") from None

    def _cas_repo(self, grant: Grant, write: bool) -> Repo:
        if write and grant.scope != "write":
            raise errors.forbidden("This Xet token may only read; uploads need a token from xet-write-token")
        repo_type, repo_id = grant.subject.split("/", 1)
        repo = self.server.store.open(repo_type, repo_id)
        if repo is None:
            raise errors.repo_not_found()
        return repo

    def _cas_put_xorb(self, grant: Grant, prefix: str, xorb_hash: str) -> None:
        self._cas_repo(grant, write=True)
        if prefix != "default":
            raise errors.bad_request(f"Unknown xorb prefix {prefix!r}; use 'default'")
        _check_hash(xorb_hash)
        if "Content-Length" not in self.headers:
            raise HubError(411, "A xorb upload needs a Content-Length")
        xorbs = self.server.store.xorbs
        if xorbs.has(xorb_hash):
            self._send_json({"was_inserted": False})
            return
        length, self._remaining = self._remaining, 0
        try:
            xorbs.put(xorb_hash, self.rfile, length)
        except (XorbFormatError, XetError) as exc:
            # Where the parser stopped in the body is unknown, so the connection cannot carry another request.
            self.close_connection = True
            raise errors.bad_request(f"Xorb {xorb_hash} refused: {exc}") from None
        self._send_json({"was_inserted": True})

    def _cas_put_shard(self, grant: Grant, *, streaming: bool) -> None:
        repo = self._cas_repo(grant, write=True)
        try:
            parsed = parse_shard(self._read_body(MAX_SHARD_BYTES))
        except ShardFormatError as exc:
            raise errors.bad_request(f"Shard refused: {exc}") from None
        if not streaming:
            try:
                files = check_shard(self.server.store.xorbs, parsed, lambda done, total: None)
            except XetError as exc:
                raise errors.bad_request(f"Shard refused: {exc}") from None
            for file in files:
                repo.xet_files.register(file)
            self._send_json({"result": 1})
            return
        self._start_stream("application/x-ndjson")
        last = time.monotonic()
        self._stream_event({"type": "validating", "verified": 0, "total": len(parsed.files)})

        def progress(done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_INTERVAL_SECONDS:
                last = time.monotonic()
                self._stream_event({"type": "validating", "verified": done, "total": total})

        try:
            files = check_shard(self.server.store.xorbs, parsed, progress)
        except XetError as exc:
            self._stream_event({"type": "error", "message": f"Shard refused: {exc}", "retryable": False})
        else:
            self._stream_event({"type": "committing", "stage": "syncing"})
            for file in files:
                repo.xet_files.register(file)
            self._stream_event({"type": "result", "result": 1})
        self._end_stream()

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _stream_event(self, event: dict) -> None:
        line = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _cas_reconstruction(self, grant: Grant, file_hash: str) -> None:
        repo = self._cas_repo(grant, write=False)
        _check_hash(file_hash)
        file = repo.xet_files.get(file_hash)
        if file is None:
            raise HubError(404, f"File {file_hash} is not known in this repo")
        requested = parse_range(self.headers.get("Range"), file.size)
        if requested == "unsatisfiable" or file.size == 0:
            raise HubError(416, "Requested range not satisfiable")
        start, end = requested or (0, file.size - 1)
        offset, runs = spans(self.server.store.xorbs, file, start, end)
        fetches: dict[str, list[dict]] = {}
        for run in runs:
            entries = fetches.setdefault(run.xorb, [])
            chunk_range = {"start": run.start, "end": run.end}
            if all(e["ranges"][0]["chunks"] != chunk_range for e in entries):
                entries.append(
                    {
                        "url": self._fetch_url(run.xorb, run.byte_start, run.byte_end),
                        "ranges": [{"chunks": chunk_range, "bytes": {"start": run.byte_start, "end": run.byte_end}}],
                    }
                )
        self._send_json(
            {
                "offset_into_first_range": offset,
                "terms": [
                    {"hash": r.xorb, "unpacked_length": r.size, "range": {"start": r.start, "end": r.end}} for r in runs
                ],
                "xorbs": fetches,
            }
        )

    def _fetch_url(self, xorb_hash: str, start: int, end: int) -> str:
        path, signed_range = f"/cas/fetch/{xorb_hash}", f"bytes={start}-{end}"
        signature = self.server.signer.sign_url(path, signed_range, FETCH_TTL)
        return f"{self._base_url()}{path}?range={quote(signed_range, safe='')}&{signature}"

    def _cas_fetch(self, xorb_hash: str) -> None:
        """A presigned xorb byte range: it serves exactly the range it was signed for, as the Hub's CDN does."""
        _check_hash(xorb_hash)
        signed_range = self._query.get("range", [""])[-1]
        self._check_presigned(f"/cas/fetch/{xorb_hash}", signed_range, "ask for the file's reconstruction again")
        if self.headers.get("Range") != signed_range:
            raise errors.forbidden(f"This URL serves only {signed_range}")
        path = self.server.store.xorbs.path(xorb_hash)
        total = path.stat().st_size
        start, end = (int(n) for n in signed_range.removeprefix("bytes=").split("-"))
        if end >= total:
            raise HubError(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{total}"})
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
        self.end_headers()
        for data in read_file_range(path, start, end):
            self.wfile.write(data)


def _check_hash(text: str) -> None:
    try:
        hashing.hex_to_hash(text)
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    if text != text.lower():
        raise errors.bad_request(f"{text}: hashes are written in lowercase hex")

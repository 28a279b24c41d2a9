"""Git LFS over HTTP, as the Hub offers it to clients without Xet: the batch API handing out presigned upload URLs
(basic and multipart), the uploads themselves, and the verify call."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from localhub import errors, lfs
from localhub.errors import HubError

# S3's smallest part: files larger than one part go multipart, so the client's multipart path is what large files
# take here as on the Hub.
PART_BYTES = 5 * 1024 * 1024
TRANSFER_TTL = 3600
MAX_BATCH_OBJECTS = 1000
LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"


class LfsRoutes:
    """Mixed into the request handler: `/{prefix}{repo}.git/info/lfs/objects/{batch,verify}` and `/lfs-transfer/…`."""

    def _route_lfs_batch(self, repo_type: str, repo_id: str, action: str) -> None:
        if action == "batch":
            self._lfs_batch(repo_type, repo_id)
        elif action == "verify":
            self._lfs_verify(repo_type, repo_id)
        else:
            raise HubError(404, "Not found")

    def _lfs_batch(self, repo_type: str, repo_id: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        body = self._json_body()
        if body.get("operation") != "upload":
            raise errors.bad_request("Only the LFS upload operation is offered; download files from resolve URLs")
        if body.get("hash_algo", "sha256") != "sha256":
            raise errors.bad_request("Only sha256 object ids are supported")
        objects = body.get("objects")
        if not isinstance(objects, list) or len(objects) > MAX_BATCH_OBJECTS:
            raise errors.bad_request(f"'objects' must be a list of at most {MAX_BATCH_OBJECTS} objects")
        multipart = "multipart" in (body.get("transfers") or ["basic"])
        answer = []
        for item in objects:
            oid, size = (item.get("oid"), item.get("size")) if isinstance(item, dict) else (None, None)
            if not isinstance(oid, str) or not lfs.is_sha256(oid) or not isinstance(size, int) or size < 0:
                answer.append(
                    {
                        "oid": str(oid),
                        "size": size if isinstance(size, int) else 0,
                        "error": {"code": 422, "message": "an object needs a sha256 oid and a size"},
                    }
                )
                continue
            found = {"oid": oid, "size": size, "authenticated": True}
            if not repo.lfs_content(lfs.Pointer(oid, size)):
                found["actions"] = self._lfs_actions(repo_type, repo_id, oid, size, multipart)
            answer.append(found)
        transfer = (
            "multipart"
            if any("chunk_size" in o.get("actions", {}).get("upload", {}).get("header", {}) for o in answer)
            else "basic"
        )
        payload = {"transfer": transfer, "objects": answer, "hash_algo": "sha256"}
        self._send(200, json.dumps(payload).encode(), LFS_CONTENT_TYPE)

    def _lfs_actions(self, repo_type: str, repo_id: str, oid: str, size: int, multipart: bool) -> dict:
        path = f"/lfs-transfer/{repo_type}/{repo_id}/{oid}/{size}"

        def signed(operation: str) -> str:
            signature = self.server.signer.sign_url(path, operation, TRANSFER_TTL)
            return f"{self._base_url()}{quote(path)}?op={operation}&{signature}"

        if multipart and size > PART_BYTES:
            parts = {str(n): signed(f"part-{n}") for n in range(1, math.ceil(size / PART_BYTES) + 1)}
            upload = {"href": signed("complete"), "header": {"chunk_size": str(PART_BYTES), **parts}}
        else:
            upload = {"href": signed("whole")}
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        verify = {"href": f"{self._base_url()}/{prefix}{repo_id}.git/info/lfs/objects/verify"}
        return {"upload": {**upload, "expires_in": TRANSFER_TTL}, "verify": verify}

    def _lfs_verify(self, repo_type: str, repo_id: str) -> None:
        body = self._json_body()
        repo = self._repo(repo_type, repo_id)
        oid, size = body.get("oid"), body.get("size")
        if not isinstance(oid, str) or not lfs.is_sha256(oid) or not isinstance(size, int):
            raise errors.bad_request("verify needs the object's sha256 'oid' and 'size'")
        if not repo.lfs_content(lfs.Pointer(oid, size)):
            raise HubError(404, f"Object {oid} of {size} bytes was not uploaded to {repo_id}")
        self._send(200, b"{}", LFS_CONTENT_TYPE)

    def _route_lfs_transfer(self, method: str, seg: list[str]) -> None:
        if len(seg) != 5 or not seg[4].isdigit():
            raise HubError(404, "Not found")
        repo_type, namespace, name, oid, size_text = seg
        operation = self._query.get("op", [""])[-1]
        self._check_presigned(f"/lfs-transfer/{'/'.join(seg)}", operation, "ask the batch API for a new one")
        repo = self.server.store.open(repo_type, f"{namespace}/{name}")
        if repo is None:
            raise errors.repo_not_found()
        size = int(size_text)
        announced = size if operation == "whole" else PART_BYTES
        if method == "PUT" and not self._chunked and self._remaining > announced:
            raise HubError(413, f"This upload URL takes at most {announced} bytes, not {self._remaining}")
        try:
            if method == "PUT" and operation == "whole":
                repo.objects.put(oid, size, self._body_parts())
                self._send(200, b"{}", LFS_CONTENT_TYPE)
            elif method == "PUT" and operation.startswith("part-") and operation[5:].isdigit():
                etag = _store_part(_parts_dir(repo.git_dir, oid), int(operation[5:]), self._body_parts())
                self._send(200, b"", "text/plain", {"ETag": f'"{etag}"'})
            elif method == "POST" and operation == "complete":
                self._complete_multipart(repo, oid, size)
            else:
                raise HubError(405, f"{method} is not allowed on this upload URL")
        except lfs.ObjectError as exc:
            raise errors.bad_request(str(exc)) from None

    def _complete_multipart(self, repo, oid: str, size: int) -> None:
        body = self._json_body()
        expected = math.ceil(size / PART_BYTES)
        parts = body.get("parts")
        folder = _parts_dir(repo.git_dir, oid)
        if body.get("oid") != oid or not isinstance(parts, list) or len(parts) != expected:
            raise errors.bad_request(f"Completing {oid} needs its oid and the etags of all {expected} parts")
        for number, part in enumerate(parts, start=1):
            stored = folder / f"{number}.etag"
            if (
                not isinstance(part, dict)
                or part.get("partNumber") != number
                or not stored.is_file()
                or str(part.get("etag", "")).strip('"') != stored.read_text()
            ):
                raise errors.bad_request(f"Part {number} of {oid} was not uploaded, or its etag differs")
        repo.objects.put(oid, size, _concatenated(folder, expected))
        shutil.rmtree(folder, ignore_errors=True)
        self._send(200, b"{}", LFS_CONTENT_TYPE)


def _parts_dir(git_dir: Path, oid: str) -> Path:
    if not lfs.is_sha256(oid):
        raise lfs.ObjectError(f"{oid!r} is not a sha256 in lowercase hex")
    return git_dir / "lfs" / "incoming" / oid


def _store_part(folder: Path, number: int, body: Iterator[bytes]) -> str:
    """Keep one uploaded part; its etag is its sha256, written only once the part is whole."""
    folder.mkdir(parents=True, exist_ok=True)
    digest, written = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in body:
                written += len(piece)
                if written > PART_BYTES:
                    raise lfs.ObjectError(f"part {number} is larger than the {PART_BYTES}-byte part size")
                digest.update(piece)
                out.write(piece)
        os.replace(tmp, folder / str(number))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    (folder / f"{number}.etag").write_text(digest.hexdigest())
    return digest.hexdigest()


def _concatenated(folder: Path, parts: int) -> Iterator[bytes]:
    for number in range(1, parts + 1):
        with open(folder / str(number), "rb") as fh:
            yield from lfs.file_parts(fh)

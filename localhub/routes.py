"""Answers the Hub HTTP API (repos, refs, commits, trees, file resolution, card validation) from the store."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from localhub import cardcheck, errors, lfs, storage
from localhub.auth import InvalidToken, Token
from localhub.errors import HubError
from localhub.lfs_routes import LfsRoutes
from localhub.pages.routes import PageRoutes
from localhub.ranges import parse_range
from localhub.signing import GrantError
from localhub.xet.routes import CasRoutes

access_log = logging.getLogger("localhub.access")

TYPE_SEGMENTS = {"models": "model", "datasets": "dataset", "spaces": "space"}
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPANDED = 50
COMMITS_PAGE_SIZE = 50
DRAIN_CHUNK = 1024 * 1024
# Hub tokens for Xet last an hour; the client asks for a new one a minute before expiry.
XET_TOKEN_TTL = 3600

_STORAGE_ERRORS = {
    storage.InvalidRequest: 400,
    storage.Conflict: 409,
    storage.RepoExists: 409,
    storage.StaleParent: 412,
}


class HubRequestHandler(PageRoutes, CasRoutes, LfsRoutes, BaseHTTPRequestHandler):
    """One HTTP exchange. The server object carries `store` (RepoStore), `auth` (Authenticator) and `signer`
    (Signer, for Xet tokens and presigned transfer URLs)."""

    protocol_version = "HTTP/1.1"
    server_version = "localhub"
    # Headers and body go out in separate writes; with Nagle on, each response waits on a delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    # Plumbing

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def setup(self) -> None:
        self.timeout = self.server.limits.socket_timeout_seconds
        super().setup()

    def log_message(self, format: str, *args) -> None:
        # Only the request line and status are logged: headers never are, query strings (where a token or a URL
        # signature may ride) are cut, and control characters are escaped so that a request cannot forge lines.
        line = _QUERY_STRING.sub("?…", format % args)
        access_log.info("%s %s", self.address_string(), _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", line))

    def send_header(self, keyword: str, value) -> None:
        # A value echoing the request (a path in an error message) must not end the header line early.
        super().send_header(keyword, _CONTROL.sub(" ", str(value)))

    def end_headers(self) -> None:
        self._response_started = True
        super().end_headers()

    def _handle(self, method: str) -> None:
        self._remaining = 0
        self._chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        self._response_started = False
        split = urlsplit(self.path)
        self._query = parse_qs(split.query, keep_blank_values=True)
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        try:
            try:
                length = self.headers.get("Content-Length")
                if length is not None and not length.strip().isdigit():
                    self.close_connection = True
                    raise errors.bad_request(f"Invalid Content-Length {length!r}: expected a number of bytes")
                self._remaining = int(length or 0)
                # CAS requests carry a Xet token and transfer URLs a signature, not a Hub token.
                if segments[:1] == ["cas"]:
                    self._route_cas(method, segments[1:])
                elif segments[:1] == ["lfs-transfer"]:
                    self._route_lfs_transfer(method, segments[1:])
                else:
                    self._caller = self._authenticate(method)
                    self._route(method, segments)
            except InvalidToken:
                self._fail(errors.invalid_credentials())
            except HubError as exc:
                self._fail(exc)
            except storage.StorageError as exc:
                self._fail(self._storage_error(exc))
            except (ValueError, KeyError, TypeError) as exc:
                self._fail(errors.bad_request(f"Malformed request: {exc}"))
            except TimeoutError:
                self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception:
                logging.getLogger("localhub").exception("Internal error on %s %s", method, split.path)
                self._fail(HubError(500, "Internal server error"))
            self._drain_body()
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (for example a streaming reader that stopped early).
            self.close_connection = True

    def _authenticate(self, method: str) -> Token | None:
        """The caller: the `Authorization` header's token, or for a read without one, the browser's login cookie.
        Writes never take the cookie, so no page of another site can make a logged-in browser write."""
        header = self.headers.get("Authorization")
        if header is None and method in ("GET", "HEAD"):
            return self.server.auth.session_caller(self.headers.get("Cookie"))
        return self.server.auth.caller(header)

    def _fail(self, exc: HubError) -> None:
        if self._response_started:
            # Part of a response is already on the wire: the only honest signal left is closing it.
            self.close_connection = True
            return
        self._send_error(exc)

    def _storage_error(self, exc: storage.StorageError) -> HubError:
        if isinstance(exc, storage.RevisionNotFound):
            return HubError(404, str(exc), "RevisionNotFound")
        if isinstance(exc, storage.EntryNotFound):
            return errors.entry_not_found(str(exc))
        return HubError(_STORAGE_ERRORS.get(type(exc), 400), str(exc))

    def _drain_body(self) -> None:
        # Unread request bytes would be parsed as the next request on this keep-alive connection; past a small
        # amount, closing the connection costs less than reading a body nobody will use.
        if self._chunked or self._remaining > DRAIN_CHUNK:
            self.close_connection = True
            return
        while self._remaining > 0:
            chunk = self.rfile.read(min(DRAIN_CHUNK, self._remaining))
            if not chunk:
                self.close_connection = True
                break
            self._remaining -= len(chunk)

    def _read_body(self, limit: int) -> bytes:
        """The whole body, refused before it is read when it is over `limit` bytes."""
        if self._chunked:
            raise HubError(411, "This request needs a Content-Length")
        if self._remaining > limit:
            raise HubError(413, f"Request body of {self._remaining} bytes is over the {limit}-byte limit")
        data = b"".join(self._body_parts())
        return data

    def _body_parts(self) -> Iterator[bytes]:
        """The request body a piece at a time, sent with a `Content-Length` or in chunked transfer encoding."""
        if not self._chunked:
            while self._remaining > 0:
                part = self.rfile.read(min(DRAIN_CHUNK, self._remaining))
                if not part:
                    self.close_connection = True
                    raise errors.bad_request(f"The request body ended {self._remaining} bytes early")
                self._remaining -= len(part)
                yield part
            return
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise errors.bad_request("Malformed chunked request body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                self._chunked = False
                return
            while size > 0:
                part = self.rfile.read(min(DRAIN_CHUNK, size))
                if not part:
                    raise errors.bad_request("The chunked request body ended early")
                size -= len(part)
                yield part
            self.rfile.readline(3)

    def _read_line(self, limit: int) -> bytes:
        line = self.rfile.readline(min(self._remaining, limit + 1))
        if not line:
            self.close_connection = True
            raise errors.bad_request(f"The request body ended {self._remaining} bytes early")
        self._remaining -= len(line)
        if len(line) > limit:
            self.close_connection = True
            raise HubError(413, f"A line of the request body is over the {limit}-byte limit")
        return line

    def _json_body(self) -> dict:
        body = self._json(self._read_body(self.server.limits.json_bytes) or b"{}")
        if not isinstance(body, dict):
            raise errors.bad_request("Expected a JSON object")
        return body

    def _json(self, data: bytes):
        depth = self.server.limits.nesting_depth
        if _nesting(data) > depth:
            raise errors.bad_request(f"JSON nested deeper than {depth} levels")
        return json.loads(data)

    def _check_presigned(self, path: str, extra: str, fix: str) -> None:
        """A presigned URL carries its expiry and signature in the query; refused with 403 when either fails."""
        query = {name: self._query.get(name, [""])[-1] for name in ("expires", "signature")}
        try:
            self.server.signer.check_url(path, extra, query["expires"], query["signature"])
        except GrantError as exc:
            raise errors.forbidden(f"This presigned URL is not valid: {exc}; {fix}") from None

    def _base_url(self) -> str:
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return f"http://{host}"

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, payload, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_error(self, exc: HubError) -> None:
        headers = dict(exc.headers)
        if exc.code:
            headers["X-Error-Code"] = exc.code
        message = _bounded(exc.message, self.server.limits.message_chars)
        # Header values must stay on one latin-1 line.
        headers["X-Error-Message"] = message.encode("latin-1", "replace").decode("latin-1")
        self._send_json({"error": message, **exc.extra}, exc.status, headers)

    def _flag(self, name: str) -> bool:
        return self._query.get(name, ["false"])[-1].lower() in ("1", "true")

    # Routing

    def _route(self, method: str, seg: list[str]) -> None:
        if seg[:1] == ["api"]:
            self._route_api(method, seg[1:])
            return
        prefix_type = "dataset" if seg[:1] == ["datasets"] else "model"
        rest = seg[1:] if seg[:1] in (["datasets"], ["spaces"]) else seg
        if seg[:1] != ["spaces"] and len(rest) >= 5 and rest[2] == "resolve" and method in ("GET", "HEAD"):
            self._resolve(prefix_type, f"{rest[0]}/{rest[1]}", rest[3], "/".join(rest[4:]))
            return
        if (
            seg[:1] != ["spaces"]
            and method == "POST"
            and len(rest) == 6
            and rest[1].endswith(".git")
            and rest[2:5] == ["info", "lfs", "objects"]
        ):
            self._route_lfs_batch(prefix_type, f"{rest[0]}/{rest[1].removesuffix('.git')}", rest[5])
            return
        if not self._route_page(method, seg):
            raise HubError(404, "Not found")

    def _route_api(self, method: str, seg: list[str]) -> None:
        route = (method, *seg[:2])
        if route == ("GET", "whoami-v2"):
            self._whoami()
        elif route == ("POST", "repos", "create"):
            self._create_repo()
        elif route == ("DELETE", "repos", "delete"):
            self._delete_repo()
        elif route == ("POST", "validate-yaml"):
            self._validate_yaml()
        elif route == ("GET", "datasets") or route == ("GET", "models"):
            self._list_repos(TYPE_SEGMENTS[seg[0]])
        elif len(seg) >= 3 and seg[0] in TYPE_SEGMENTS:
            repo_type = TYPE_SEGMENTS[seg[0]]
            self._route_repo(method, repo_type, f"{seg[1]}/{seg[2]}", seg[3:])
        else:
            raise HubError(404, "Not found")

    def _route_repo(self, method: str, repo_type: str, repo_id: str, rest: list[str]) -> None:
        action = rest[0] if rest else ""
        args = rest[1:]
        handlers = {
            ("GET", ""): lambda: self._repo_info(repo_type, repo_id, None),
            ("GET", "revision"): lambda: self._repo_info(repo_type, repo_id, "/".join(args)),
            ("GET", "tree"): lambda: self._tree(repo_type, repo_id, args[0], "/".join(args[1:])),
            ("POST", "paths-info"): lambda: self._paths_info(repo_type, repo_id, "/".join(args)),
            ("GET", "refs"): lambda: self._refs(repo_type, repo_id),
            ("GET", "commits"): lambda: self._commits(repo_type, repo_id, "/".join(args)),
            ("POST", "preupload"): lambda: self._preupload(repo_type, repo_id, "/".join(args)),
            ("POST", "commit"): lambda: self._commit(repo_type, repo_id, "/".join(args)),
            ("POST", "tag"): lambda: self._create_tag(repo_type, repo_id, "/".join(args)),
            ("DELETE", "tag"): lambda: self._delete_tag(repo_type, repo_id, "/".join(args)),
            ("POST", "branch"): lambda: self._create_branch(repo_type, repo_id, "/".join(args)),
            ("DELETE", "branch"): lambda: self._delete_branch(repo_type, repo_id, "/".join(args)),
            ("PUT", "settings"): lambda: self._update_settings(repo_type, repo_id),
            ("GET", "xet-read-token"): lambda: self._xet_token(repo_type, repo_id, "read", "/".join(args)),
            ("GET", "xet-write-token"): lambda: self._xet_token(repo_type, repo_id, "write", "/".join(args)),
            ("GET", "croissant"): lambda: self._croissant(repo_type, repo_id),
        }
        handler = handlers.get((method, action))
        if handler is None or (action in ("revision", "tree", "commits") and not args):
            raise HubError(404, "Not found")
        handler()

    # Access control

    def _repo(self, repo_type: str, repo_id: str, *, write: bool = False) -> storage.Repo:
        repo = self.server.store.open(repo_type, repo_id)
        if write:
            self._require_writer()
        if repo is None or (repo.private and self._caller is None):
            raise errors.repo_not_found(anonymous=self._caller is None)
        return repo

    def _require_writer(self) -> Token:
        if self._caller is None:
            raise errors.unauthenticated()
        if not self._caller.write:
            raise errors.forbidden(
                f"Your token ({self._caller.user}) has read access only; writing needs a write token"
            )
        return self._caller

    def _resolve_rev(self, repo: storage.Repo, rev: str) -> str:
        sha = repo.resolve(rev)
        if sha is None:
            raise errors.revision_not_found(rev)
        return sha

    def _repo_url(self, repo_type: str, repo_id: str) -> str:
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return f"{self._base_url()}/{prefix}{repo_id}"

    def _api_url(self, repo_type: str, repo_id: str) -> str:
        return f"{self._base_url()}/api/{repo_type}s/{repo_id}"

    # Account and repos

    def _whoami(self) -> None:
        if self._caller is None:
            raise errors.unauthenticated("Authorization header is required")
        user = self._caller.user
        role = "write" if self._caller.write else "read"
        self._send_json(
            {
                "type": "user",
                "id": user,
                "name": user,
                "fullname": user,
                "email": None,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "localhub", "role": role}},
            }
        )

    def _create_repo(self) -> None:
        caller = self._require_writer()
        body = self._json_body()
        repo_type = _text(body, "type", required=False) or "model"
        if repo_type not in storage.REPO_TYPES:
            raise errors.bad_request(f"Repo type {repo_type!r} is not supported; use 'dataset' or 'model'")
        namespace = _text(body, "organization", required=False) or caller.user
        if namespace != caller.user:
            raise errors.forbidden(
                f"You ({caller.user}) cannot create repos in the namespace {namespace!r}: "
                "this server has no organisations, so a token writes only in its own namespace"
            )
        repo_id = f"{namespace}/{_text(body, 'name')}"
        visibility = _text(body, "visibility", required=False)
        if visibility not in (None, "private", "public"):
            raise errors.bad_request(f"'visibility' {visibility!r} is not one of 'public', 'private'")
        private = visibility == "private" or _boolean(body, "private") is True
        url = self._repo_url(repo_type, repo_id)
        try:
            self.server.store.create(repo_type, repo_id, private=private, user=caller.user)
        except storage.RepoExists:
            raise errors.conflict(f"You already created this {repo_type} repo", extra={"url": url}) from None
        self._send_json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        caller = self._require_writer()
        body = self._json_body()
        repo_type = _text(body, "type", required=False) or "model"
        repo_id = f"{_text(body, 'organization', required=False) or caller.user}/{_text(body, 'name')}"
        repo = self._repo(repo_type, repo_id, write=True)
        self.server.store.delete(repo)
        self._send_json({})

    def _validate_yaml(self) -> None:
        body = self._json_body()
        content, repo_type = _text(body, "content"), _text(body, "repoType", required=False) or "model"
        found, warnings = cardcheck.validate(content, repo_type)
        limit = self.server.limits.message_chars
        payload = {
            "errors": [{"message": _bounded(m, limit)} for m in found],
            "warnings": [{"message": _bounded(m, limit)} for m in warnings],
        }
        self._send_json(payload, 400 if found else 200)

    def _update_settings(self, repo_type: str, repo_id: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        body = self._json_body()
        if body.get("gated") not in (None, False):
            raise errors.bad_request("Gated repos are not supported by this server")
        visibility = _text(body, "visibility", required=False)
        if visibility is None and _boolean(body, "private") is not None:
            visibility = "private" if body["private"] else "public"
        if visibility not in (None, "private", "public"):
            raise errors.bad_request(f"Visibility {visibility!r} is not one of 'public', 'private'")
        if visibility is not None:
            repo.set_private(visibility == "private")
        self._send_json({})

    # Reads

    def _list_repos(self, repo_type: str) -> None:
        """Visible repos, newest first, filtered by `author` and by `search` (every term must be in the id)."""
        author = self._query.get("author", [""])[-1]
        terms = [t.lower() for t in self._query.get("search", []) if t]
        try:
            limit = int(self._query.get("limit", ["0"])[-1]) or None
        except ValueError:
            raise errors.bad_request("limit must be an integer") from None
        found = []
        for repo in self.server.store.list(repo_type):
            if (repo.private and self._caller is None) or (author and repo.repo_id.split("/")[0] != author):
                continue
            if all(term in repo.repo_id.lower() for term in terms):
                found.append(repo)
        found.sort(key=lambda r: r.meta["createdAt"], reverse=True)
        self._send_json(
            [
                {
                    "_id": r.repo_id,
                    "id": r.repo_id,
                    "author": r.repo_id.split("/")[0],
                    "private": r.private,
                    "gated": False,
                    "disabled": False,
                    "createdAt": r.created_at,
                    "downloads": 0,
                    "likes": 0,
                    "tags": [],
                }
                for r in found[:limit]
            ]
        )

    def _repo_info(self, repo_type: str, repo_id: str, rev: str | None) -> None:
        repo = self._repo(repo_type, repo_id)
        sha = self._resolve_rev(repo, rev or storage.DEFAULT_BRANCH)
        with_blobs = self._flag("blobs")
        files = [e for e in repo.list_tree(sha, recursive=True) if e.type == "file"]
        siblings = [{"rfilename": e.path, **(_blob_json(e) if with_blobs else {})} for e in files]
        info = {
            "_id": repo_id,
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "lastModified": repo.commit_date(sha),
            "createdAt": repo.created_at,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        readme = repo.readme_text(sha)
        if readme is not None:
            try:
                card = cardcheck.front_matter(readme)
            except cardcheck.CardError:
                card = None
            if card:
                info["cardData"] = card
        self._send_json(info)

    def _entry_json(self, repo: storage.Repo, sha: str, entry: storage.Entry, expand: bool) -> dict:
        item = {"type": entry.type, "oid": entry.oid, "size": entry.size, "path": entry.path}
        if entry.lfs is not None:
            item["lfs"] = {"oid": entry.lfs.oid, "size": entry.lfs.size, "pointerSize": entry.lfs.pointer_size}
            if entry.lfs.xet_hash:
                item["xetHash"] = entry.lfs.xet_hash
        if expand:
            last = repo.log(sha, limit=1, path=entry.path)
            if last:
                item["lastCommit"] = {"id": last[0].id, "title": last[0].title, "date": last[0].date}
        return item

    def _tree(self, repo_type: str, repo_id: str, rev: str, path: str) -> None:
        repo = self._repo(repo_type, repo_id)
        sha = self._resolve_rev(repo, rev)
        recursive, expand = self._flag("recursive"), self._flag("expand")
        entries = repo.list_tree(sha, path, recursive=recursive)
        page_size = TREE_PAGE_SIZE_EXPANDED if expand else TREE_PAGE_SIZE
        start = int(self._query.get("cursor", ["0"])[-1])
        page = entries[start : start + page_size]
        headers = {}
        if start + page_size < len(entries):
            headers["Link"] = self._next_link({"cursor": str(start + page_size)})
        self._send_json([self._entry_json(repo, sha, e, expand) for e in page], headers=headers)

    def _next_link(self, changes: dict[str, str]) -> str:
        # The client requests the link verbatim, so it must be absolute and carry every parameter.
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in self._query.items()} | changes
        return f'<{self._base_url()}{split.path}?{urlencode(query)}>; rel="next"'

    def _paths_info(self, repo_type: str, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_type, repo_id)
        sha = self._resolve_rev(repo, rev)
        form = parse_qs(self._read_body(self.server.limits.json_bytes).decode(), keep_blank_values=True)
        expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")
        found = []
        for path in form.get("paths", []):
            entry = repo.entry(sha, path)
            if entry is not None:
                found.append(self._entry_json(repo, sha, entry, expand))
        self._send_json(found)

    def _refs(self, repo_type: str, repo_id: str) -> None:
        repo = self._repo(repo_type, repo_id)
        branches, tags = repo.refs()
        self._send_json(
            {"branches": _refs_json(branches), "tags": _refs_json(tags), "converts": [], "pullRequests": []}
        )

    def _commits(self, repo_type: str, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_type, repo_id)
        sha = self._resolve_rev(repo, rev)
        page = int(self._query.get("p", ["0"])[-1])
        commits = repo.log(sha, skip=page * COMMITS_PAGE_SIZE, limit=COMMITS_PAGE_SIZE + 1)
        headers = {}
        if len(commits) > COMMITS_PAGE_SIZE:
            headers["Link"] = self._next_link({"p": str(page + 1)})
        payload = [
            {"id": c.id, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": c.author}]}
            for c in commits[:COMMITS_PAGE_SIZE]
        ]
        self._send_json(payload, headers=headers)

    def _resolve(self, repo_type: str, repo_id: str, rev: str, path: str) -> None:
        repo = self._repo(repo_type, repo_id)
        sha = self._resolve_rev(repo, rev)
        entry = repo.entry(sha, path) if path else None
        if entry is None or entry.type != "file":
            raise errors.entry_not_found(f"Entry not found: {path}", commit=sha)
        headers = {"X-Repo-Commit": sha, "ETag": f'"{entry.oid}"', "Accept-Ranges": "bytes"}
        if entry.lfs is not None:
            # As the Hub: LFS content is known by its sha256, and Xet-backed content says where to get a read token,
            # which sends clients with hf_xet to the CAS while plain HTTP clients read the bytes below.
            headers.update(
                {"ETag": f'"{entry.lfs.oid}"', "X-Linked-Etag": f'"{entry.lfs.oid}"', "X-Linked-Size": str(entry.size)}
            )
            if entry.lfs.xet_hash:
                token_url = f"{self._api_url(repo_type, repo_id)}/xet-read-token/{sha}"
                headers.update({"X-Xet-Hash": entry.lfs.xet_hash, "Link": f'<{token_url}>; rel="xet-auth"'})
        start, end, status = 0, entry.size - 1, 200
        requested = parse_range(self.headers.get("Range"), entry.size)
        if requested == "unsatisfiable":
            raise HubError(
                416, "Requested range not satisfiable", headers={**headers, "Content-Range": f"bytes */{entry.size}"}
            )
        if requested is not None:
            start, end = requested
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        body = repo.read_range(entry, start, end) if entry.size and self.command != "HEAD" else ()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(max(end - start + 1, 0)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        for chunk in body:
            self.wfile.write(chunk)

    # Writes

    def _preupload(self, repo_type: str, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        body = self._json_body()
        if self._flag("create_pr"):
            raise errors.bad_request("Pull requests are not supported by this server")
        sha = self._resolve_rev(repo, rev)
        current = {e.path: e for e in repo.list_tree(sha, recursive=True) if e.type == "file"}
        attributes = repo.gitattributes(sha)
        answer = []
        files = body.get("files", [])
        if not isinstance(files, list) or not all(isinstance(item, dict) for item in files):
            raise errors.bad_request("'files' must be a list of objects")
        for item in files:
            path, size = _text(item, "path"), _count(item, "size")
            sample = base64.b64decode(_text(item, "sample", required=False) or "")
            known = current.get(path)
            # For LFS files the client compares the oid with the content's sha256, as on the Hub.
            oid = (known.lfs.oid if known.lfs else known.oid) if known else None
            answer.append(
                {
                    "path": path,
                    "uploadMode": lfs.upload_mode(attributes, path, size, sample),
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        self._send_json({"files": answer, "commitOid": sha})

    def _commit(self, repo_type: str, repo_id: str, branch: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        if self._flag("create_pr"):
            raise errors.bad_request("Pull requests are not supported by this server")
        if repo.branch_head(branch) is None:
            raise errors.revision_not_found(branch)
        limit = self.server.limits.commit_bytes
        if self._chunked or self._remaining > limit:
            raise HubError(
                413,
                f"A commit request is limited to {limit} bytes with a Content-Length; "
                "send large files through LFS (the preupload answer says which)",
            )
        header, planned = None, []
        with repo.blob_writer() as blobs:
            for kind, payload in self._commit_lines():
                if kind == "header":
                    header = payload
                    continue
                path = _text(payload, "path", where=kind)
                if kind != "deletedFolder":
                    storage.check_file_path(path, self.server.limits)
                if kind == "file":
                    content = _decoded_content(payload, path)
                    pointer = lfs.parse_pointer(content)
                    if pointer is not None:
                        self._require_lfs_content(repo, path, pointer)
                    planned.append(("add", path, blobs.add(content)))
                elif kind == "lfsFile":
                    pointer = _lfs_pointer(payload)
                    self._require_lfs_content(repo, path, pointer)
                    planned.append(("add", path, blobs.add(pointer.encode())))
                elif kind == "deletedFile":
                    planned.append(("delete_file", path, None))
                elif kind == "deletedFolder":
                    planned.append(("delete_folder", path, None))
                else:
                    raise errors.bad_request(f"Unsupported commit line {kind!r}")
            oids = blobs.write()
        operations = [storage.Operation(kind, path, None if i is None else oids[i]) for kind, path, i in planned]
        summary = (_text(header, "summary", where="header") or "").strip() if header is not None else ""
        if not summary:
            raise errors.bad_request("A commit needs a header line with a non-empty summary")
        parent = _text(header, "parentCommit", required=False, where="header")
        if parent is not None and not _COMMIT_ID.fullmatch(parent):
            raise errors.bad_request(f"'parentCommit' {parent!r} is not a commit id (5 to 40 hex digits)")
        sha = repo.commit(
            branch,
            operations,
            summary=summary,
            description=_text(header, "description", required=False, where="header") or "",
            author=self._caller.user,
            parent_commit=parent,
        )
        self._send_json(
            {
                "success": True,
                "commitOid": sha,
                "commitUrl": f"{self._repo_url(repo_type, repo_id)}/commit/{sha}",
                "pullRequestUrl": None,
                "hookOutput": "",
            }
        )

    def _require_lfs_content(self, repo: storage.Repo, path: str, pointer: lfs.Pointer) -> None:
        if not repo.lfs_content(pointer):
            raise errors.bad_request(
                f"{path}: no uploaded content with sha256 {pointer.oid} and {pointer.size} bytes in {repo.repo_id}; "
                "upload it through Xet or git-lfs (as the preupload answer says) before committing"
            )

    def _commit_lines(self) -> Iterator[tuple[str, dict]]:
        """(kind, value) of each NDJSON line, read one at a time: a file arrives as one long line, and holding the
        whole body as well would double the peak memory."""
        while self._remaining > 0:
            line = self._read_line(self.server.limits.commit_line_bytes)
            if not line.strip():
                continue
            item = self._json(line)
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("key"), str)
                or not isinstance(item.get("value"), dict)
            ):
                raise errors.bad_request("Each commit line must be an object with a string 'key' and an object 'value'")
            yield item["key"], item["value"]

    def _create_tag(self, repo_type: str, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        body = self._json_body()
        sha = self._resolve_rev(repo, rev or storage.DEFAULT_BRANCH)
        repo.create_tag(_text(body, "tag"), sha, message=_text(body, "message", required=False), user=self._caller.user)
        self._send_json({})

    def _delete_tag(self, repo_type: str, repo_id: str, tag: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        repo.delete_tag(tag)
        self._send_json({})

    def _create_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        body = self._json_body()
        sha = self._resolve_rev(repo, _text(body, "startingPoint", required=False) or storage.DEFAULT_BRANCH)
        repo.create_branch(branch, sha)
        self._send_json({})

    def _delete_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        repo.delete_branch(branch)
        self._send_json({})

    # Xet

    def _xet_token(self, repo_type: str, repo_id: str, scope: str, rev: str) -> None:
        """A CAS token scoped to reading or writing this one repo: huggingface_hub reads the headers, hf_xet the
        JSON."""
        repo = self._repo(repo_type, repo_id, write=scope == "write")
        # `None` is what huggingface_hub sends when it does not know the revision yet (a pull request).
        if rev and rev != "None":
            self._resolve_rev(repo, rev)
        token, expires = self.server.signer.issue(scope, f"{repo_type}/{repo_id}", XET_TOKEN_TTL)
        cas_url = f"{self._base_url()}/cas"
        self._send_json(
            {"accessToken": token, "exp": expires, "casUrl": cas_url},
            headers={"X-Xet-Cas-Url": cas_url, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(expires)},
        )


def _decoded_content(payload: dict, path: str) -> bytes:
    if payload.get("encoding", "base64") != "base64":
        raise errors.bad_request(f"{path}: unsupported encoding; files are sent as base64")
    return base64.b64decode(_text(payload, "content", where=path), validate=True)


def _text(mapping: dict, key: str, *, required: bool = True, where: str = "") -> str | None:
    """A string field; a missing optional one is None, anything else is a 400 naming the field."""
    value = mapping.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise errors.bad_request(f"{where + ': ' if where else ''}'{key}' must be a string")
    return value


def _boolean(mapping: dict, key: str) -> bool | None:
    value = mapping.get(key)
    if value is not None and not isinstance(value, bool):
        raise errors.bad_request(f"'{key}' must be true or false, not {value!r}")
    return value


def _count(mapping: dict, key: str) -> int:
    value = mapping.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise errors.bad_request(f"'{key}' must be a number of bytes")
    return value


_COMMIT_ID = re.compile(r"[0-9a-fA-F]{5,40}")


_QUERY_STRING = re.compile(r"\?[^ \"]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _nesting(data: bytes) -> int:
    """How deeply a JSON text nests arrays and objects, counted before parsing so that no depth exhausts the stack."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b'""', data):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _bounded(message: str, limit: int) -> str:
    return message if len(message) <= limit else f"{message[:limit]}… ({len(message) - limit} more characters)"


def _lfs_pointer(payload: dict) -> lfs.Pointer:
    oid, size = payload.get("oid"), payload.get("size")
    if payload.get("algo", "sha256") != "sha256" or not isinstance(oid, str) or not lfs.is_sha256(oid):
        raise errors.bad_request(f"{payload.get('path')}: an lfsFile needs a sha256 oid in lowercase hex")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise errors.bad_request(f"{payload.get('path')}: an lfsFile needs a size in bytes")
    return lfs.Pointer(oid, size)


def _blob_json(entry: storage.Entry) -> dict:
    found = {"size": entry.size, "blobId": entry.oid}
    if entry.lfs is not None:
        found["lfs"] = {"size": entry.lfs.size, "sha256": entry.lfs.oid, "pointerSize": entry.lfs.pointer_size}
    return found


def _refs_json(refs: list[storage.Ref]) -> list[dict]:
    return [{"name": r.name, "ref": r.ref, "targetCommit": r.target} for r in refs]

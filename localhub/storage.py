"""Stores Hub repositories as bare git repositories under `<data_dir>/<type>s/<namespace>/<name>.git`."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from localhub import git
from localhub.gitattributes import default_gitattributes
from localhub.lfs import MAX_POINTER_SIZE, ObjectStore, Pointer, parse_pointer
from localhub.limits import Limits
from localhub.ranges import READ_CHUNK, read_file_range
from localhub.xet.store import FileRegistry, XetFile, XorbStore
from localhub.xet.store import read_range as read_xet_range

REPO_TYPES = ("model", "dataset")
DEFAULT_BRANCH = "main"
ZERO_OID = "0" * 40
META_FILE = "localhub.json"
CACHE_DIR = "localhub-cache"

# Blobs above this size are materialised once in a cache file so that ranged reads can seek instead of
# decompressing the object from the start on every request.
BLOB_CACHE_THRESHOLD = 4 * 1024 * 1024


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_HEX = re.compile(r"[0-9a-f]{4,40}")
# A ref named like this could be taken for a commit id; the Hub refuses such names.
_LOOKS_LIKE_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
# Release tags: no branch may take one of these names, so `revision="v1.2.0"` always means the release.
_RELEASE_TAG = re.compile(r"v\d+\.\d+\.\d+")
# Code points HFS+ ignores in file names, which git strips before comparing a component with `.git`.
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
DEFAULT_LIMITS = Limits()
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class StorageError(Exception):
    """Base of the errors the store reports to the HTTP layer."""


class RepoExists(StorageError):
    pass


class RevisionNotFound(StorageError):
    pass


class EntryNotFound(StorageError):
    pass


class InvalidRequest(StorageError):
    pass


class Conflict(StorageError):
    pass


class StaleParent(StorageError):
    pass


@dataclass(frozen=True)
class LfsFile:
    """A file git holds as an LFS pointer: the content's sha256 and size, the pointer's size, and the Xet hash when
    the content is in Xet storage."""

    oid: str
    size: int
    pointer_size: int
    xet_hash: str | None


@dataclass(frozen=True)
class Entry:
    """One tree entry: a file (blob) or a directory (tree), with its path from the repo root.

    `oid` is the git object id (for an LFS file, the pointer's); `size` is the content's."""

    path: str
    type: str
    oid: str
    size: int
    lfs: LfsFile | None = None


@dataclass(frozen=True)
class Commit:
    id: str
    title: str
    message: str
    date: str
    author: str


@dataclass(frozen=True)
class Ref:
    """A branch or a tag: its short and full names, the commit it points at, and when it was made (a tag's own date
    when it is annotated, else its commit's)."""

    name: str
    ref: str
    target: str
    date: str


@dataclass(frozen=True)
class Operation:
    """One commit operation, applied in request order: `add` (with a stored blob), `delete_file`, `delete_folder`."""

    kind: str
    path: str
    oid: str | None = None


def hub_timestamp(epoch_seconds: int) -> str:
    """Format a time as the clients require: UTC with a literal `Z`."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def check_repo_name(part: str) -> None:
    if not _NAME.fullmatch(part) or part.endswith(".git") or ".." in part:
        raise InvalidRequest(f"Invalid repo name part {part!r}: use letters, digits, '-', '_' and '.', at most 96")


def check_file_path(path: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse paths that could escape the tree, that git would not store as given, or that exceed the limits."""
    parts = path.split("/")
    if not path or path.startswith("/") or _PATH_CONTROL.search(path) or "\\" in path:
        raise InvalidRequest(f"Invalid path {path!r}: paths are relative, use '/', and hold no control characters")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidRequest(f"Invalid path {path!r}: empty, '.' and '..' components are not allowed")
    if len(path.encode()) > limits.path_bytes or len(parts) > limits.path_depth:
        raise InvalidRequest(
            f"Invalid path {path[:200]!r}…: at most {limits.path_bytes} bytes and {limits.path_depth} components"
        )
    for part in parts:
        if len(part.encode()) > limits.path_component_bytes:
            raise InvalidRequest(f"Invalid path {path!r}: a component is over {limits.path_component_bytes} bytes")
        # git refuses `.git` in any case, with trailing dots or spaces or an NTFS stream suffix, its NTFS short
        # name and its HFS+ spellings: such a file would be dropped from the tree without a word.
        folded = _HFS_IGNORED.sub("", part).split(":")[0].rstrip(". ").lower()
        if folded in (".git", "git~1"):
            raise InvalidRequest(f"Invalid path {path!r}: {part!r} names git's own directory")


class RepoStore:
    """All repositories under one data directory."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.xorbs = XorbStore(self.data_dir / "xet")

    def git_dir(self, repo_type: str, repo_id: str) -> Path:
        namespace, name = repo_id.split("/")
        return self.data_dir / f"{repo_type}s" / namespace / f"{name}.git"

    def open(self, repo_type: str, repo_id: str) -> Repo | None:
        if repo_type not in REPO_TYPES or repo_id.count("/") != 1:
            return None
        namespace, name = repo_id.split("/")
        if not (_NAME.fullmatch(namespace) and _NAME.fullmatch(name)):
            return None
        git_dir = self.git_dir(repo_type, repo_id)
        if not (git_dir / META_FILE).is_file():
            return None
        return Repo(git_dir, repo_type, repo_id, self.xorbs)

    def create(self, repo_type: str, repo_id: str, *, private: bool, user: str) -> Repo:
        """Create a repo with an `initial commit` of `.gitattributes`, as the Hub does.

        The repo is built in a temporary directory and renamed into place, so a concurrent reader never sees a
        half-initialised repo and only one of two concurrent creations wins.
        """
        namespace, name = repo_id.split("/")
        check_repo_name(namespace)
        check_repo_name(name)
        final = self.git_dir(repo_type, repo_id)
        if final.exists():
            raise RepoExists(repo_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=final.parent))
        try:
            git.run(staging, "init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}")
            created = int(datetime.now(UTC).timestamp())
            meta = {"private": private, "createdAt": created, "createdBy": user}
            (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            repo = Repo(staging, repo_type, repo_id, self.xorbs)
            oid = repo.store_blob(default_gitattributes(repo_type))
            tree = repo.write_tree({".gitattributes": ("100644", oid)})
            commit = repo.commit_tree(tree, None, "initial commit", author="system")
            git.run(staging, "update-ref", f"refs/heads/{DEFAULT_BRANCH}", commit, "")
            try:
                os.rename(staging, final)
            except OSError as exc:
                raise RepoExists(repo_id) from exc
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return Repo(final, repo_type, repo_id, self.xorbs)

    def list(self, repo_type: str) -> list[Repo]:
        root = self.data_dir / f"{repo_type}s"
        found = []
        for git_dir in sorted(root.glob("*/*.git")):
            repo = self.open(repo_type, f"{git_dir.parent.name}/{git_dir.name.removesuffix('.git')}")
            if repo is not None:
                found.append(repo)
        return found

    def delete(self, repo: Repo) -> None:
        """Rename first so that readers stop finding the repo at once, then remove it."""
        trash = Path(tempfile.mkdtemp(prefix=".deleted.", dir=repo.git_dir.parent))
        os.rename(repo.git_dir, trash / "repo.git")
        shutil.rmtree(trash, ignore_errors=True)


_COMMIT_LOCKS: dict[Path, threading.Lock] = {}
_COMMIT_LOCKS_GUARD = threading.Lock()


def _commit_lock(git_dir: Path) -> threading.Lock:
    with _COMMIT_LOCKS_GUARD:
        return _COMMIT_LOCKS.setdefault(git_dir.resolve(), threading.Lock())


class Repo:
    """One bare git repository plus its Hub metadata (visibility, creation time) and the large-file content its
    LFS pointers name: objects uploaded through git-lfs, and files registered through Xet shards."""

    def __init__(self, git_dir: Path, repo_type: str, repo_id: str, xorbs: XorbStore):
        self.git_dir = git_dir
        self.repo_type = repo_type
        self.repo_id = repo_id
        self.meta = json.loads((git_dir / META_FILE).read_text())
        self.objects = ObjectStore(git_dir / "lfs" / "objects")
        self.xet_files = FileRegistry(git_dir / "xet")
        self.xorbs = xorbs

    @property
    def private(self) -> bool:
        return bool(self.meta.get("private", False))

    def set_private(self, private: bool) -> None:
        self.meta = {**self.meta, "private": private}
        fd, tmp = tempfile.mkstemp(dir=self.git_dir, prefix=".meta-")
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(self.meta, indent=2) + "\n")
        os.replace(tmp, self.git_dir / META_FILE)

    @property
    def created_at(self) -> str:
        return hub_timestamp(int(self.meta["createdAt"]))

    def _git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
        return git.run(self.git_dir, *args, input=input, env=env)

    def _rev_parse(self, spec: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", spec).decode().strip()
        except git.GitError:
            return None

    # Revisions and refs

    def resolve(self, rev: str) -> str | None:
        """Resolve a full commit id, a branch, a tag, a full ref name or a short commit id to a commit id."""
        if len(rev) == 40 and _HEX.fullmatch(rev.lower()):
            return self._rev_parse(f"{rev.lower()}^{{commit}}")
        refs = [rev] if rev.startswith("refs/") else [f"refs/heads/{rev}", f"refs/tags/{rev}"]
        for ref in refs:
            if git.is_valid_ref_name(ref):
                sha = self._rev_parse(f"{ref}^{{commit}}")
                if sha:
                    return sha
        lowered = rev.lower()
        if _HEX.fullmatch(lowered):
            return self._rev_parse(f"{lowered}^{{commit}}")
        return None

    def branch_head(self, branch: str) -> str | None:
        if not git.is_valid_ref_name(f"refs/heads/{branch}"):
            return None
        return self._rev_parse(f"refs/heads/{branch}^{{commit}}")

    def refs(self) -> tuple[list[Ref], list[Ref]]:
        """Branches and tags, with annotated tags peeled to their commit."""
        out = self._git(
            "for-each-ref",
            "--format=%(refname)%00%(objectname)%00%(*objectname)%00%(creatordate:unix)",
            "refs/heads",
            "refs/tags",
        ).decode()
        branches, tags = [], []
        for line in out.splitlines():
            ref, oid, peeled, created = line.split("\x00")
            date = hub_timestamp(int(created))
            if ref.startswith("refs/heads/"):
                branches.append(Ref(ref.removeprefix("refs/heads/"), ref, oid, date))
            else:
                tags.append(Ref(ref.removeprefix("refs/tags/"), ref, peeled or oid, date))
        return branches, tags

    def _check_new_ref(self, kind: str, name: str) -> str:
        """The full ref for a new branch or tag, refused when it could be read as another revision."""
        ref = f"refs/{'heads' if kind == 'branch' else 'tags'}/{name}"
        if not git.is_valid_ref_name(ref):
            raise InvalidRequest(f"Invalid {kind} name {name!r}")
        if _LOOKS_LIKE_COMMIT.fullmatch(name):
            raise InvalidRequest(f"Invalid {kind} name {name!r}: it could be taken for a commit id")
        if kind == "branch" and _RELEASE_TAG.fullmatch(name):
            raise InvalidRequest(f"Invalid branch name {name!r}: names like v1.2.3 are kept for release tags")
        other = "tag" if kind == "branch" else "branch"
        if self._rev_parse(f"refs/{'tags' if kind == 'branch' else 'heads'}/{name}"):
            raise Conflict(f"A {other} is already named {name}; a {kind} of the same name would shadow it")
        return ref

    def create_tag(self, tag: str, commit: str, *, message: str | None, user: str) -> None:
        ref = self._check_new_ref("tag", tag)
        if self._rev_parse(ref):
            raise Conflict(f"Tag {tag} already exists")
        target = commit
        if message:
            body = (
                f"object {commit}\ntype commit\ntag {tag}\n"
                f"tagger {user} <{user}@localhub> {int(datetime.now(UTC).timestamp())} +0000\n\n{message}\n"
            )
            target = self._git("mktag", input=body.encode()).decode().strip()
        try:
            # The all-zero old value makes git refuse to overwrite a tag created concurrently.
            self._git("update-ref", ref, target, ZERO_OID)
        except git.GitError as exc:
            raise Conflict(f"Tag {tag} already exists") from exc

    def delete_tag(self, tag: str) -> None:
        ref = f"refs/tags/{tag}"
        if not git.is_valid_ref_name(ref) or not self._rev_parse(ref):
            raise RevisionNotFound(f"Invalid rev id: {tag}")
        self._git("update-ref", "-d", ref)

    def create_branch(self, branch: str, commit: str) -> None:
        ref = self._check_new_ref("branch", branch)
        try:
            self._git("update-ref", ref, commit, ZERO_OID)
        except git.GitError as exc:
            raise Conflict(f"Branch {branch} already exists") from exc

    def delete_branch(self, branch: str) -> None:
        if branch == DEFAULT_BRANCH:
            raise InvalidRequest(f"Cannot delete the default branch {DEFAULT_BRANCH}")
        if self.branch_head(branch) is None:
            raise RevisionNotFound(f"Invalid rev id: {branch}")
        self._git("update-ref", "-d", f"refs/heads/{branch}")

    # Trees and files

    def _parse_ls_tree(self, out: bytes, prefix: str) -> list[Entry]:
        entries = []
        for record in out.split(b"\x00"):
            if not record:
                continue
            meta, path = record.decode("utf-8", "surrogateescape").split("\t", 1)
            _mode, kind, oid, size = meta.split()
            if kind == "blob":
                entries.append(Entry(prefix + path, "file", oid, int(size)))
            elif kind == "tree":
                entries.append(Entry(prefix + path, "directory", oid, 0))
        return self._with_lfs(entries)

    def _with_lfs(self, entries: list[Entry]) -> list[Entry]:
        """Entries whose blob is an LFS pointer get the content's size and sha256 (and Xet hash), as on the Hub."""
        small = {e.oid for e in entries if e.type == "file" and e.size <= MAX_POINTER_SIZE}
        pointers = {oid: p for oid, blob in self._read_blobs(small).items() if (p := parse_pointer(blob))}
        if not pointers:
            return entries
        resolved = []
        for entry in entries:
            pointer = pointers.get(entry.oid) if entry.type == "file" else None
            if pointer is None:
                resolved.append(entry)
                continue
            xet = self.xet_files.by_sha256(pointer.oid)
            lfs = LfsFile(pointer.oid, pointer.size, entry.size, xet.file_hash if xet else None)
            resolved.append(Entry(entry.path, "file", entry.oid, pointer.size, lfs))
        return resolved

    def _read_blobs(self, oids: set[str]) -> dict[str, bytes]:
        """Several small blobs in one `git cat-file --batch` call."""
        if not oids:
            return {}
        ordered = sorted(oids)
        out = self._git("cat-file", "--batch", input="".join(f"{oid}\n" for oid in ordered).encode())
        blobs, position = {}, 0
        for oid in ordered:
            header_end = out.index(b"\n", position)
            size = int(out[position:header_end].split()[2])
            blobs[oid] = out[header_end + 1 : header_end + 1 + size]
            position = header_end + 1 + size + 1
        return blobs

    def lfs_content(self, pointer: Pointer) -> XetFile | bool:
        """Whether this repo holds the content a pointer names: its Xet file, True for a git-lfs object, else False."""
        xet = self.xet_files.by_sha256(pointer.oid)
        if xet is not None and xet.size == pointer.size:
            return xet
        return self.objects.has(pointer.oid, pointer.size)

    def gitattributes(self, commit: str) -> str:
        found = self.entry(commit, ".gitattributes")
        if found is None or found.type != "file" or found.lfs or found.size > BLOB_CACHE_THRESHOLD:
            return ""
        return self.read_small(found.oid).decode("utf-8", "replace")

    def entry(self, commit: str, path: str) -> Entry | None:
        path = path.strip("/")
        try:
            check_file_path(path)
        except InvalidRequest:
            return None
        out = self._git("ls-tree", "-z", "-l", commit, "--", path)
        return next((e for e in self._parse_ls_tree(out, "") if e.path == path), None)

    def list_tree(self, commit: str, path: str = "", *, recursive: bool = False) -> list[Entry]:
        """Entries under `path` (the root if empty); a recursive listing includes the directories."""
        path = path.strip("/")
        if path:
            found = self.entry(commit, path)
            if found is None or found.type != "directory":
                raise EntryNotFound(f"{path} does not exist or is not a folder")
        args = ["ls-tree", "-z", "-l"] + (["-r", "-t"] if recursive else [])
        out = self._git(*args, f"{commit}:{path}" if path else commit)
        return self._parse_ls_tree(out, f"{path}/" if path else "")

    def files(self, commit: str) -> dict[str, tuple[str, str]]:
        """Every file of a commit: path -> (mode, blob oid)."""
        out = self._git("ls-tree", "-r", "-z", commit)
        files = {}
        for record in out.split(b"\x00"):
            if record:
                meta, path = record.decode("utf-8", "surrogateescape").split("\t", 1)
                mode, _kind, oid = meta.split()
                files[path] = (mode, oid)
        return files

    def read_small(self, oid: str) -> bytes:
        return self._git("cat-file", "blob", oid)

    def read_range(self, entry: Entry, start: int, end: int) -> Iterator[bytes]:
        """Yield bytes `start..end` (inclusive) of a file's content without holding a large file in memory."""
        if entry.lfs is None:
            return self._read_blob_range(entry.oid, entry.size, start, end)
        content = self.lfs_content(Pointer(entry.lfs.oid, entry.lfs.size))
        if isinstance(content, XetFile):
            return read_xet_range(self.xorbs, content, start, end)
        if content:
            return self.objects.read_range(entry.lfs.oid, start, end)
        raise EntryNotFound(f"{entry.path}: its LFS object {entry.lfs.oid} is not stored here")

    def _read_blob_range(self, oid: str, size: int, start: int, end: int) -> Iterator[bytes]:
        if size <= BLOB_CACHE_THRESHOLD:
            yield self.read_small(oid)[start : end + 1]
            return
        if start == 0 and not (self.git_dir / CACHE_DIR / oid).is_file():
            # A read from the start needs no seek: stream git's output now rather than make the client wait
            # for the whole blob to be cached (its read timeout is 10 s).
            yield from self._stream_blob(oid, end + 1)
            return
        yield from read_file_range(self._cached_blob(oid), start, end)

    def _stream_blob(self, oid: str, length: int) -> Iterator[bytes]:
        proc = git.popen(self.git_dir, "cat-file", "blob", oid)
        try:
            while length > 0:
                chunk = proc.stdout.read(min(READ_CHUNK, length))
                if not chunk:
                    break
                length -= len(chunk)
                yield chunk
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()

    def _cached_blob(self, oid: str) -> Path:
        target = self.git_dir / CACHE_DIR / oid
        if target.is_file():
            return target
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        proc = git.popen(self.git_dir, "cat-file", "blob", oid)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(proc.stdout, out, READ_CHUNK)
            if proc.wait() != 0:
                raise git.GitError(["cat-file", "blob"], proc.returncode, b"")
            os.replace(tmp, target)
        finally:
            proc.stdout.close()
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def readme_text(self, commit: str) -> str | None:
        found = self.entry(commit, "README.md")
        if found is None or found.type != "file" or found.lfs or found.size > BLOB_CACHE_THRESHOLD:
            return None
        return self.read_small(found.oid).decode("utf-8", "replace")

    # History

    def log(self, commit: str, *, skip: int = 0, limit: int | None = None, path: str | None = None) -> list[Commit]:
        """Commits reachable from `commit`, newest first; with `path`, only those that touched it."""
        args = ["log", "-z", "--format=%H%x1f%ct%x1f%an%x1f%B", f"--skip={skip}"]
        if limit is not None:
            args.append(f"--max-count={limit}")
        args += [commit, "--", path] if path else [commit]
        out = self._git(*args).decode("utf-8", "replace")
        commits = []
        for record in out.split("\x00"):
            if not record.strip():
                continue
            sha, ct, author, body = record.strip("\n").split("\x1f", 3)
            title, _, rest = body.strip().partition("\n")
            commits.append(Commit(sha, title.strip(), rest.strip("\n"), hub_timestamp(int(ct)), author))
        return commits

    def commit_date(self, commit: str) -> str:
        return hub_timestamp(int(self._git("show", "-s", "--format=%ct", commit).decode().strip()))

    # Writes

    def store_blob(self, data: bytes) -> str:
        return self._git("hash-object", "-w", "--no-filters", "--stdin", input=data).decode().strip()

    def blob_writer(self) -> BlobWriter:
        return BlobWriter(self)

    def write_tree(self, files: dict[str, tuple[str, str]]) -> str:
        """Build a tree object from a flat file map through a throwaway index, never touching refs."""
        with tempfile.TemporaryDirectory(dir=self.git_dir) as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            listing = b"".join(f"{mode} {oid}\t{path}".encode() + b"\x00" for path, (mode, oid) in files.items())
            self._git("update-index", "-z", "--index-info", input=listing, env=env)
            return self._git("write-tree", env=env).decode().strip()

    def _check_tree_holds(self, tree: str, files: dict[str, tuple[str, str]]) -> None:
        """git drops or rewrites some paths without failing; a commit must hold exactly the files it was given."""
        listed = self._git("ls-tree", "-r", "-z", "--name-only", tree).decode("utf-8", "surrogateescape")
        lost = sorted(set(files) - set(filter(None, listed.split("\x00"))))
        if lost:
            raise InvalidRequest(f"git would not store these paths as given: {', '.join(lost)}")

    def commit_tree(self, tree: str, parent: str | None, message: str, *, author: str) -> str:
        email = f"{author}@localhub"
        env = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": email,
        }
        parents = ["-p", parent] if parent else []
        return self._git("commit-tree", tree, *parents, "-F", "-", input=message.encode(), env=env).decode().strip()

    def commit(
        self,
        branch: str,
        operations: list[Operation],
        *,
        summary: str,
        description: str,
        author: str,
        parent_commit: str | None = None,
    ) -> str:
        """Apply the operations on top of the branch head and move the branch with a compare-and-swap.

        Any failure happens before `update-ref`, so a refused commit leaves the branch where it was.
        """
        with _commit_lock(self.git_dir):
            head = self.branch_head(branch)
            if head is None:
                raise RevisionNotFound(f"Invalid rev id: {branch}")
            if parent_commit is not None:
                expected = self.resolve(parent_commit)
                if expected != head:
                    raise StaleParent(f"Parent commit {parent_commit} is not the head of {branch} ({head})")
            files = self.files(head)
            for op in operations:
                _apply(files, op)
            _check_no_file_folder_conflict(files)
            tree = self.write_tree(files)
            self._check_tree_holds(tree, files)
            message = summary if not description else f"{summary}\n\n{description}"
            new = self.commit_tree(tree, head, message, author=author)
            try:
                self._git("update-ref", "-m", summary, f"refs/heads/{branch}", new, head)
            except git.GitError as exc:
                raise Conflict(f"Branch {branch} moved while committing; retry") from exc
            return new


class BlobWriter:
    """Spools incoming file contents to disk, then writes them all into the object store with one git call.

    One `hash-object` per file would cost a process per file: thousands for a sharded dataset.
    """

    def __init__(self, repo: Repo):
        self._repo = repo
        self._dir = Path(tempfile.mkdtemp(prefix="incoming-", dir=repo.git_dir))
        self._spooled: list[tuple[Path, int]] = []

    def add(self, data: bytes) -> int:
        """Spool one content; returns its index in the list `write()` answers."""
        path = self._dir / str(len(self._spooled))
        path.write_bytes(data)
        self._spooled.append((path, len(data)))
        return len(self._spooled) - 1

    def write(self) -> list[str]:
        """Store every spooled content as a blob; large ones also become ranged-read cache files."""
        if not self._spooled:
            return []
        listing = "".join(f"{path}\n" for path, _size in self._spooled).encode()
        out = self._repo._git("hash-object", "-w", "--no-filters", "--stdin-paths", input=listing)
        oids = out.decode().split()
        cache = self._repo.git_dir / CACHE_DIR
        for (path, size), oid in zip(self._spooled, oids, strict=True):
            if size > BLOB_CACHE_THRESHOLD:
                cache.mkdir(exist_ok=True)
                os.replace(path, cache / oid)
        return oids

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def _apply(files: dict[str, tuple[str, str]], op: Operation) -> None:
    if op.kind == "add":
        check_file_path(op.path)
        files[op.path] = ("100644", op.oid)
    elif op.kind == "delete_file":
        if op.path not in files:
            raise EntryNotFound(f"A file with this name doesn't exist: {op.path}")
        del files[op.path]
    elif op.kind == "delete_folder":
        prefix = op.path.strip("/") + "/"
        doomed = [p for p in files if p.startswith(prefix)]
        if not doomed or prefix == "/":
            raise EntryNotFound(f"A folder with this name doesn't exist: {op.path}")
        for path in doomed:
            del files[path]
    else:
        raise InvalidRequest(f"Unsupported operation {op.kind}")


def _check_no_file_folder_conflict(files: dict[str, tuple[str, str]]) -> None:
    for path in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder in files:
                raise InvalidRequest(f"Path conflict: {folder} is both a file and a folder")

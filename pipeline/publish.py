"""Publish: pushes `dist/hub/` to the Hub named by `hub.*` as one commit tagged `v<release.version>`, verifies both,
and writes `release/receipt.json` and `metrics/publish.json`.

A released tag is immutable: the same content again is a no-op, other content under the same version is refused.
The version bump must be at least what the change since the previous release requires (PATCH: same rows; MINOR:
rows added or fixed, none moved between splits; MAJOR: anything else).

Also a command for maintainers:
    python -m pipeline.publish fetch-manifest VERSION PATH   the manifest of a released version (to pin splits)
    python -m pipeline.publish changelog OLD NEW             the row-level diff between two released versions
"""

from __future__ import annotations

if __name__ == "__main__":
    # Arrow reads its allocator when it is first imported: a stage run as a program chooses it first.
    from pipeline import process

    process.prologue("jemalloc")

import hashlib
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import process
from pipeline.build import released_digest
from pipeline.io import StageError, atomic_path, read_batches, write_json
from schema.manifest import MANIFEST_FILE
from schema.params import SPLITS, HubParams, Params
from schema.release import datasets_features

STAGE = "publish"


@dataclass(frozen=True)
class PublishPaths:
    """What publish writes besides the Hub, as `dvc.yaml` names it; it reads `build.output_dir`."""

    receipt: Path
    metrics: Path


# Files the Hub keeps in every repo; they are not part of a release.
HUB_OWNED = frozenset({".gitattributes"})
RETRIES = 5
# The n-th retry waits 2**n times this many seconds.
_BACKOFF_SECONDS = 0.2
# Hex digits of a commit or content hash that messages show, enough to tell releases apart.
_SHORT_HASH = 12

T = TypeVar("T")


# Where the release goes.


@dataclass(frozen=True)
class Target:
    endpoint: str
    label: str
    token: str

    def __repr__(self) -> str:
        return f"Target(endpoint={self.endpoint!r}, label={self.label!r})"


@contextmanager
def connect(hub: HubParams) -> Iterator[Target]:
    """The Hub to publish to: the embedded one (started for this run, with a token that never leaves memory) or a
    URL with the maintainer's token. Sets HF_ENDPOINT before the clients are imported, as they read it only then."""
    if hub.endpoint == "embedded":
        from localhub import LocalHub, Token

        token = secrets.token_urlsafe(32)
        namespace = hub.repo_id.split("/")[0]
        with LocalHub(data_dir=hub.data_dir, tokens={token: Token(user=namespace, write=True)}) as server:
            _point_clients_at(server.endpoint)
            yield Target(server.endpoint, f"embedded Hub in {hub.data_dir}/", token)
        return
    _point_clients_at(hub.endpoint)
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise StageError(f"no Hub token for {hub.endpoint}: set HF_TOKEN in the environment or run `hf auth login`")
    yield Target(hub.endpoint, hub.endpoint, token)


def _point_clients_at(endpoint: str) -> None:
    loaded = [name for name in ("huggingface_hub", "datasets") if name in sys.modules]
    if loaded and os.environ.get("HF_ENDPOINT") != endpoint:
        import huggingface_hub.constants as hub_constants

        if hub_constants.ENDPOINT != endpoint:
            raise StageError(
                f"{', '.join(loaded)} was imported before the Hub endpoint was chosen; "
                "run the stage in its own process (python -m pipeline.publish)"
            )
    os.environ["HF_ENDPOINT"] = endpoint
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # Our own verification loads are not downloads of the corpus.
    os.environ["HF_UPDATE_DOWNLOAD_COUNTS"] = "0"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def with_retries(call: Callable[[], T], what: str) -> T:
    """Retries transient failures (5xx, timeouts, dropped connections) with backoff; fails fast on the rest."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    for attempt in range(1, RETRIES):
        try:
            return call()
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status is None or status < HTTPStatus.INTERNAL_SERVER_ERROR:
                raise
            reason = f"HTTP {status}"
        except (httpx2.TransportError, ConnectionError, TimeoutError) as exc:
            reason = type(exc).__name__
        delay = _BACKOFF_SECONDS * 2**attempt
        print(f"publish: {what} failed ({reason}); retrying in {delay:.1f} s", file=sys.stderr)
        time.sleep(delay)
    return call()


# What is released.


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class LocalFile:
    path: str
    blob_sha1: str
    sha256: str
    size: int


@dataclass(frozen=True)
class RemoteFile:
    """A file as the Hub lists it: its git blob id, and for a file stored through LFS or Xet the content's sha256
    (the blob is then only a pointer to it)."""

    blob_id: str
    lfs_sha256: str | None


def differing(remote: dict[str, RemoteFile], files: dict[str, LocalFile]) -> list[str]:
    """Paths whose released content is not the built content: an LFS/Xet file is compared by the sha256 of its
    content, an inline file by its blob id."""

    def same(found: RemoteFile, built: LocalFile) -> bool:
        return found.lfs_sha256 == built.sha256 if found.lfs_sha256 else found.blob_id == built.blob_sha1

    return sorted(
        path
        for path in set(remote) | set(files)
        if path not in remote or path not in files or not same(remote[path], files[path])
    )


def local_files(folder: Path) -> dict[str, LocalFile]:
    if not (folder / "README.md").is_file():
        raise StageError(f"{folder}: no built release here; run `dvc repro build` first")
    files = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = file.read_bytes()
        path = file.relative_to(folder).as_posix()
        files[path] = LocalFile(path, git_blob_sha1(data), hashlib.sha256(data).hexdigest(), len(data))
    return files


def local_splits(folder: Path) -> dict[str, tuple[int, str]]:
    """Rows and content hash per split of the built release, read shard by shard."""
    found = {}
    for split in SPLITS:
        shards = sorted((folder / "data").glob(f"{split}-*.parquet"))
        if shards:
            found[split] = released_digest(
                batch for shard in shards for batch in read_batches(shard, columns=["id", "translation"])
            )
    return found


# Versions.


def semver(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def bump_between(previous: str, current: str) -> str:
    old, new = semver(previous), semver(current)
    if new[0] != old[0]:
        return "major"
    if new[1] != old[1]:
        return "minor"
    return "patch"


BUMP_ORDER = {"patch": 0, "minor": 1, "major": 2}


def released_versions(tags: dict[str, str]) -> list[str]:
    """The versions of the release tags (`v<MAJOR>.<MINOR>.<PATCH>`), oldest first; other tags are not releases."""
    return sorted((tag[1:] for tag in tags if re.fullmatch(r"v\d+\.\d+\.\d+", tag)), key=semver)


# The stage.


class Release:
    """One publish run against one repo: the Hub's state and the operations on it."""

    def __init__(self, target: Target, params: Params) -> None:
        from huggingface_hub import HfApi

        self.params = params
        self.repo_id = params.hub.repo_id
        self.target = target
        self.api = HfApi(endpoint=target.endpoint, token=target.token)

    def tags(self) -> dict[str, str]:
        refs = with_retries(lambda: self.api.list_repo_refs(self.repo_id, repo_type="dataset"), "listing tags")
        return {tag.name: tag.target_commit for tag in refs.tags}

    def remote_files(self, revision: str) -> dict[str, RemoteFile]:
        from huggingface_hub.hf_api import RepoFile

        entries = with_retries(
            lambda: list(self.api.list_repo_tree(self.repo_id, repo_type="dataset", revision=revision, recursive=True)),
            f"listing files at {revision}",
        )
        return {
            entry.path: RemoteFile(entry.blob_id, entry.lfs.sha256 if entry.lfs else None)
            for entry in entries
            if isinstance(entry, RepoFile) and entry.path not in HUB_OWNED
        }

    def download(self, filename: str, revision: str) -> Path:
        from huggingface_hub import hf_hub_download

        return Path(
            with_retries(
                lambda: hf_hub_download(
                    self.repo_id, filename, repo_type="dataset", revision=revision, token=self.target.token
                ),
                f"downloading {filename}@{revision}",
            )
        )

    def head(self) -> str:
        info = with_retries(lambda: self.api.dataset_info(self.repo_id, revision="main"), "reading the repo")
        return info.sha

    def commit(self, folder: Path, files: dict[str, LocalFile], parent: str) -> str:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        stale = sorted(set(self.remote_files(parent)) - set(files))
        operations = [CommitOperationAdd(path, str(folder / path)) for path in files]
        operations += [CommitOperationDelete(path) for path in stale]
        version = self.params.release.version
        result = with_retries(
            lambda: self.api.create_commit(
                self.repo_id,
                operations,
                commit_message=f"Release v{version}",
                repo_type="dataset",
                parent_commit=parent,
            ),
            "committing the release",
        )
        return result.oid

    def verify(self, revision: str, files: dict[str, LocalFile], splits: dict[str, tuple[int, str]]) -> None:
        """Checks that `revision` holds exactly the built files and that `datasets` loads the built rows from it."""
        changed = differing(self.remote_files(revision), files)
        if changed:
            raise StageError(f"verification of {revision} failed: files differ from dist/hub: {', '.join(changed)}")
        loaded = load_revision(self.repo_id, revision, self.target.token)
        for split, (rows, digest) in splits.items():
            if split not in loaded:
                raise StageError(f"verification of {revision} failed: split {split} is missing")
            got_rows, got_digest = loaded[split]
            if (got_rows, got_digest) != (rows, digest):
                raise StageError(
                    f"verification of {revision} failed: split {split} has {got_rows} rows (content "
                    f"{got_digest[:_SHORT_HASH]}), the build has {rows} (content {digest[:_SHORT_HASH]})"
                )


def load_revision(repo_id: str, revision: str, token: str) -> dict[str, tuple[int, str]]:
    """Loads a revision the way a consumer does, in a cache of its own, and returns rows and content per split."""
    import datasets

    with tempfile.TemporaryDirectory(prefix="publish-verify-") as cache:
        loaded = datasets.load_dataset(repo_id, revision=revision, cache_dir=cache, token=token)
        expected = datasets_features()
        for split, ds in loaded.items():
            if ds.features != expected:
                raise StageError(
                    f"verification of {revision} failed: split {split} has features {ds.features} instead of {expected}"
                )
        return {split: released_digest([ds.data.table]) for split, ds in loaded.items()}


def previous_manifest(release: Release, version: str) -> pa.Table:
    return pq.read_table(release.download(MANIFEST_FILE, f"v{version}"))


def check_version_policy(release: Release, tags: dict[str, str], folder: Path) -> str | None:
    """Refuses a version lower than a released one, or a bump smaller than the change requires.

    Returns the previous version, if any.
    """
    from pipeline.changelog import diff

    version = release.params.release.version
    older = [v for v in released_versions(tags) if semver(v) < semver(version)]
    newer = [v for v in released_versions(tags) if semver(v) > semver(version)]
    if newer:
        raise StageError(
            f"v{newer[-1]} is already released; release.version {version} would go backwards: "
            f"set it above {newer[-1]} in params.yaml"
        )
    if not older:
        return None
    previous = older[-1]
    if release.params.split.previous_manifest is None:
        raise StageError(
            f"v{previous} is released but split.previous_manifest is null, so splits are not pinned to it: run "
            f"`python -m pipeline.publish fetch-manifest {previous} data/previous-manifest.parquet` and set "
            "split.previous_manifest: data/previous-manifest.parquet in params.yaml"
        )
    released = previous_manifest(release, previous)
    if not released.equals(pq.read_table(release.params.split.previous_manifest)):
        raise StageError(
            f"split.previous_manifest ({release.params.split.previous_manifest}) is not the manifest of v{previous}, "
            f"the latest release, so splits were pinned to something else: run `python -m pipeline.publish "
            f"fetch-manifest {previous} {release.params.split.previous_manifest}` and `dvc repro` again"
        )
    changes = diff(released, pq.read_table(folder / MANIFEST_FILE))
    required, taken = changes.required_bump(), bump_between(previous, version)
    if BUMP_ORDER[taken] < BUMP_ORDER[required]:
        raise StageError(
            f"v{previous} → v{version} is a {taken} bump, but the change needs a {required} one "
            f"({changes.summary()}); set release.version accordingly in params.yaml"
        )
    return previous


def publish(params: Params, target: Target) -> dict[str, Any]:
    folder = params.build.output_dir
    files = local_files(folder)
    splits = local_splits(folder)
    release = Release(target, params)
    tag = params.release.tag
    with_retries(
        lambda: release.api.create_repo(
            release.repo_id, repo_type="dataset", private=params.hub.private, exist_ok=True
        ),
        "creating the repo",
    )
    tags = release.tags()
    if tag in tags:
        changed = differing(release.remote_files(tags[tag]), files)
        if changed:
            raise StageError(
                f"{tag} is already released on {target.label} with other content ({', '.join(changed)} "
                f"differ); a release is immutable: bump release.version in params.yaml"
            )
        outcome, commit, previous = "unchanged", tags[tag], None
    else:
        previous = check_version_policy(release, tags, folder)
        head = release.head()
        # A re-run after an interrupted publish finds its commit already on main: reuse it, don't commit twice.
        commit = head if not differing(release.remote_files(head), files) else release.commit(folder, files, head)
        release.verify(commit, files, splits)
        with_retries(
            lambda: release.api.create_tag(
                release.repo_id,
                tag=tag,
                revision=commit,
                repo_type="dataset",
                tag_message=f"Release {tag}",
                exist_ok=True,
            ),
            f"tagging {tag}",
        )
        try:
            if release.tags().get(tag) != commit:
                raise StageError(f"verification of {tag} failed: it does not point at {commit}")
            release.verify(tag, files, splits)
        except BaseException:
            with_retries(
                lambda: release.api.delete_tag(release.repo_id, tag=tag, repo_type="dataset"),
                f"removing the unverified tag {tag}",
            )
            raise
        outcome = "published"
    return {
        "outcome": outcome,
        "endpoint": params.hub.endpoint,
        "repo_id": release.repo_id,
        "version": params.release.version,
        "tag": tag,
        "commit": commit,
        "previous_version": previous,
        "files": {path: {"sha256": file.sha256, "bytes": file.size} for path, file in files.items()},
        "rows_by_split": {split: rows for split, (rows, _) in splits.items()},
        "content_sha256_by_split": {split: digest for split, (_, digest) in splits.items()},
        "verified": True,
    }


@contextmanager
def reported(what: str, hub: HubParams) -> Iterator[None]:
    """A failure of the Hub, the clients or the network becomes one message, not a traceback."""
    try:
        yield
    except StageError:
        raise
    except Exception as exc:
        where = "the embedded Hub" if hub.endpoint == "embedded" else hub.endpoint
        raise StageError(f"{what} on {where} failed: {type(exc).__name__}: {exc}") from None


def run(params: Params, paths: PublishPaths) -> str:
    started = time.monotonic()
    with reported("publishing", params.hub), connect(params.hub) as target:
        receipt = publish(params, target)
        label = target.label
    # An unchanged release was published earlier: this run only checked it.
    moment = "published_at" if receipt["outcome"] == "published" else "checked_at"
    receipt[moment] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_json(paths.receipt, receipt)
    write_json(
        paths.metrics,
        {
            "rows_by_split": receipt["rows_by_split"],
            "files": len(receipt["files"]),
            "bytes": sum(file["bytes"] for file in receipt["files"].values()),
            "verified": receipt["verified"],
        },
    )
    rows = ", ".join(f"{split} {count:,}" for split, count in receipt["rows_by_split"].items())
    if receipt["outcome"] == "unchanged":
        return (
            f"publish: {receipt['tag']} is already released on {label} with this content "
            f"(commit {receipt['commit'][:_SHORT_HASH]}); nothing to do."
        )
    return (
        f"publish: released {receipt['tag']} of {receipt['repo_id']} on {label} in "
        f"{time.monotonic() - started:.1f} s: commit {receipt['commit'][:_SHORT_HASH]}, {rows} rows, verified; "
        f"receipt in {paths.receipt}."
    )


# Maintainer commands.


def fetch_manifest(params: Params, version: str, destination: Path) -> str:
    with reported(f"fetching the manifest of v{version.removeprefix('v')}", params.hub), connect(params.hub) as target:
        table = previous_manifest(Release(target, params), version.removeprefix("v"))
    with atomic_path(destination) as tmp:
        pq.write_table(table, tmp)
    return f"publish: wrote the manifest of v{version.removeprefix('v')} ({table.num_rows:,} rows) to {destination}"


def changelog(params: Params, old: str, new: str) -> str:
    from pipeline.changelog import diff, render_markdown

    with (
        reported(f"comparing v{old.removeprefix('v')} and v{new.removeprefix('v')}", params.hub),
        connect(params.hub) as target,
    ):
        release = Release(target, params)
        before = previous_manifest(release, old.removeprefix("v"))
        after = previous_manifest(release, new.removeprefix("v"))
    return render_markdown(diff(before, after), old.removeprefix("v"), new.removeprefix("v"))


def main(argv: list[str] | None = None) -> int:
    # The maintainer commands write no stage output: only the stage itself needs the paths.
    parser = process.paths_parser(STAGE, PublishPaths, __doc__.splitlines()[0], required=False)
    commands = parser.add_subparsers(dest="command")
    fetch = commands.add_parser("fetch-manifest", help="download the manifest of a released version")
    fetch.add_argument("version")
    fetch.add_argument("destination", type=Path)
    diff_parser = commands.add_parser("changelog", help="print the row-level diff between two released versions")
    diff_parser.add_argument("old")
    diff_parser.add_argument("new")
    args = parser.parse_args(argv)
    if args.command == "fetch-manifest":
        return process.outcome(STAGE, lambda params: fetch_manifest(params, args.version, args.destination))
    if args.command == "changelog":
        return process.outcome(STAGE, lambda params: changelog(params, args.old, args.new))
    if args.receipt is None or args.metrics is None:
        parser.error("the stage needs --receipt and --metrics (dvc.yaml gives them); or name a command")
    return process.outcome(STAGE, lambda params: run(params, process.paths_from(PublishPaths, args)))


if __name__ == "__main__":
    process.exit(main())

"""The URLs of a dataset's pages, as the Hub spells them: each path segment and query value percent-encoded."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from localhub.storage import DEFAULT_BRANCH


def _path(*segments: str) -> str:
    return "/" + "/".join(quote(segment, safe="") for segment in segments if segment)


def _with_query(path: str, **query: str | int | None) -> str:
    kept = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def _revision(revision: str | None) -> str | None:
    return None if revision in (None, DEFAULT_BRANCH) else revision


@dataclass(frozen=True)
class Links:
    repo_id: str

    @property
    def _base(self) -> tuple[str, ...]:
        return ("datasets", *self.repo_id.split("/"))

    def card(self, revision: str | None = None) -> str:
        return _with_query(_path(*self._base), revision=_revision(revision))

    def viewer(self, config: str, split: str, revision: str | None = None, **query: str | int | None) -> str:
        return _with_query(_path(*self._base, "viewer", config, split), revision=_revision(revision), **query)

    def row(self, config: str, split: str, revision: str, row_id: str) -> str:
        """A row's permanent URL: its page in the viewer, scrolled to it."""
        return f"{self.viewer(config, split, revision, id=row_id)}#{quote(row_id, safe='')}"

    def tree(self, revision: str, path: str = "") -> str:
        return _path(*self._base, "tree", revision, *path.split("/"))

    def file(self, revision: str, path: str) -> str:
        return _path(*self._base, "resolve", revision) + "/" + quote(path)

    def versions(self) -> str:
        return _path(*self._base, "versions")

    def changelog(self, old: str | None = None, new: str | None = None, **query: str | int | None) -> str:
        return _with_query(_path(*self._base, "changelog"), **{"from": old, "to": new}, **query)

    def croissant(self, revision: str | None = None) -> str:
        return _with_query(_path("api", *self._base, "croissant"), revision=_revision(revision))


def login(next_url: str | None = None) -> str:
    return _with_query("/login", next=next_url)

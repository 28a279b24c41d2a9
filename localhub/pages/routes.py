"""The dataset pages at the Hub's URLs, rendered on the server: the repo list, a dataset's card, viewer, files,
versions and changelog; its Croissant description; the login form; the static files the pages use.

Pages only read. The login form checks a token and sets it as an `HttpOnly`, `SameSite=Strict` cookie, which the
request handler honours on reads only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qs, quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from localhub import errors, storage
from localhub.auth import SESSION_COOKIE, InvalidToken
from localhub.errors import HubError
from localhub.pages import croissant, links
from localhub.pages.card import Card, read_card
from localhub.pages.links import Links
from localhub.pages.releases import KINDS, RELEASE_TAG, compare, newest_first, releases
from localhub.pages.shards import Config, ContentCache, revision_configs
from localhub.pages.viewer import PAGE_ROWS, SplitRows

# Scripts and styles come from this server only, and nothing else loads: a value that slipped through escaping
# still could not run, and a page never reaches the network.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_STATIC = resources.files("localhub.pages") / "static"
_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB")


def _file_size(size: float) -> str:
    unit = 0
    while size >= 1000 and unit < len(_SIZE_UNITS) - 1:
        size, unit = size / 1000, unit + 1
    return f"{size:.0f} B" if unit == 0 else f"{size:.1f} {_SIZE_UNITS[unit]}"


_TEMPLATES = Environment(
    loader=PackageLoader("localhub.pages"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters["number"] = lambda value: f"{value:,}"
_TEMPLATES.filters["day"] = lambda timestamp: timestamp[:10]
_TEMPLATES.filters["filesize"] = _file_size
_CARDS = ContentCache(256)
# Page links shown either side of the current page.
_PAGER_SPAN = 2


@dataclass(frozen=True)
class Dataset:
    """What every page of one dataset shows at the revision asked for."""

    repo: storage.Repo
    links: Links
    revision: str
    commit: str
    card: Card
    configs: list[Config]
    branches: list[storage.Ref]
    tags: list[storage.Ref]

    @property
    def release(self) -> str | None:
        """The newest release tag on the commit shown, if any."""
        released = (tag.name for tag in self.tags if tag.target == self.commit and RELEASE_TAG.fullmatch(tag.name))
        return next(released, None)

    @property
    def permanent_revision(self) -> str:
        """The revision as a link that keeps showing the same content: a tag (releases are immutable), the release
        on the commit shown, or the commit."""
        if any(tag.name == self.revision for tag in self.tags):
            return self.revision
        return self.release or self.commit


class PageRoutes:
    """Mixed into the request handler, which provides `server`, `_caller`, `_query`, `_repo`, `_resolve_rev`, `_send`,
    `_send_json`, `_read_body` and `_base_url`."""

    def _route_page(self, method: str, seg: list[str]) -> bool:
        """Answers the request if its URL is a page's; False otherwise."""
        read = method in ("GET", "HEAD")
        if seg == [""] and read:
            self._redirect("/datasets")
        elif seg == ["login"] and read:
            self._login_form(self._query_value("next"))
        elif seg == ["login"] and method == "POST":
            self._login()
        elif seg == ["logout"] and method == "POST":
            self._logout()
        elif seg[:1] == ["static"] and len(seg) == 2 and read:
            self._static(seg[1])
        elif seg[:1] == ["datasets"] and read and len(seg) in (1, 2):
            self._with_error_page(self._dataset_list)
        elif seg[:1] == ["datasets"] and read and len(seg) >= 3:
            self._with_error_page(lambda: self._dataset_page(f"{seg[1]}/{seg[2]}", seg[3:]))
        else:
            return False
        return True

    # Responses

    def _send_page(self, template: str, status: int = 200, **context) -> None:
        html = _TEMPLATES.get_template(template).render(caller=self._caller, here=self.path, **context)
        self._send(status, html.encode(), "text/html; charset=utf-8", PAGE_HEADERS)

    def _redirect(self, location: str, headers: dict[str, str] | None = None) -> None:
        self._send(303, b"", "text/plain", {"Location": location, **(headers or {})})

    def _with_error_page(self, render) -> None:
        try:
            render()
        except HubError as exc:
            # Private and missing repos look the same, as in the API; a page adds where to log in.
            status = 404 if exc.code == "RepoNotFound" else exc.status
            self._send_page("error.html", status, message=exc.message, login=links.login(self.path))
        except storage.StorageError as exc:
            self._send_page("error.html", 404, message=str(exc), login=links.login(self.path))

    def _static(self, name: str) -> None:
        suffix = name[name.rfind(".") :] if "." in name else ""
        resource = _STATIC / name
        if suffix not in _STATIC_TYPES or "/" in name or not resource.is_file():
            raise HubError(404, "Not found")
        self._send(200, resource.read_bytes(), _STATIC_TYPES[suffix], {"Cache-Control": "max-age=3600"})

    def _query_value(self, name: str, default: str = "") -> str:
        return self._query.get(name, [default])[-1]

    def _query_number(self, name: str) -> int:
        value = self._query_value(name)
        return int(value) if value.isdigit() else 0

    # Login

    def _login_form(self, next_url: str, error: str | None = None, status: int = 200) -> None:
        self._send_page("login.html", status, next_url=_local(next_url), error=error)

    def _login(self) -> None:
        self._check_origin()
        form = parse_qs(self._read_body(self.server.limits.json_bytes).decode("utf-8", "replace"))
        secret = form.get("token", [""])[-1].strip()
        next_url = _local(form.get("next", [""])[-1])
        try:
            token = self.server.auth.caller(f"Bearer {secret}") if secret else None
        except InvalidToken:
            token = None
        if token is None:
            self._login_form(next_url, "This server knows no such token.", 401)
            return
        cookie = f"{SESSION_COOKIE}={quote(secret, safe='')}; Path=/; HttpOnly; SameSite=Strict"
        self._redirect(next_url, {"Set-Cookie": cookie})

    def _logout(self) -> None:
        self._check_origin()
        self._redirect("/datasets", {"Set-Cookie": f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"})

    def _check_origin(self) -> None:
        """A form posted from another site is refused, so that no site can log a browser in as someone else."""
        origin = self.headers.get("Origin")
        if origin is not None and origin != self._base_url():
            raise errors.forbidden("This form can only be sent from this server's own pages")

    # Dataset pages

    def _dataset_list(self) -> None:
        visible = [repo for repo in self.server.store.list("dataset") if not (repo.private and self._caller is None)]
        visible.sort(key=lambda repo: repo.meta["createdAt"], reverse=True)
        self._send_page("datasets.html", repos=visible, links=Links)

    def _dataset(self, repo_id: str, revision: str) -> Dataset:
        repo = self._repo("dataset", repo_id)
        commit = self._resolve_rev(repo, revision)
        configs = revision_configs(repo, commit)
        formats = ["parquet"] if configs else []
        readme = repo.entry(commit, "README.md")
        card = _CARDS.get(
            (readme.oid if readme else None, *formats), lambda: read_card(repo.readme_text(commit), formats)
        )
        branches, tags = repo.refs()
        return Dataset(repo, Links(repo_id), revision, commit, card, configs, branches, newest_first(tags))

    def _dataset_page(self, repo_id: str, rest: list[str]) -> None:
        view = rest[0] if rest else ""
        revision = self._query_value("revision") or storage.DEFAULT_BRANCH
        if view == "" and len(rest) <= 1:
            self._card_page(self._dataset(repo_id, revision))
        elif view == "viewer" and len(rest) <= 3:
            self._viewer_page(self._dataset(repo_id, revision), rest[1:])
        elif view == "tree" and len(rest) >= 2:
            self._tree_page(self._dataset(repo_id, rest[1]), "/".join(rest[2:]))
        elif view == "tree" and len(rest) == 1:
            self._redirect(Links(repo_id).tree(storage.DEFAULT_BRANCH))
        elif view == "versions" and len(rest) == 1:
            self._versions_page(self._dataset(repo_id, storage.DEFAULT_BRANCH))
        elif view == "changelog" and len(rest) == 1:
            self._changelog_page(self._dataset(repo_id, storage.DEFAULT_BRANCH))
        else:
            raise HubError(404, "Not found")

    def _card_page(self, dataset: Dataset) -> None:
        rows = {split.name: split.rows(dataset.repo) for split in dataset.configs[0].splits} if dataset.configs else {}
        self._send_page(
            "card.html",
            dataset=dataset,
            rows=rows,
            at=dataset.links.card,
            snippet=_snippet(dataset.repo.repo_id, dataset.release or _pinned(dataset.revision)),
        )

    def _viewer_page(self, dataset: Dataset, names: list[str]) -> None:
        if not dataset.configs:
            raise HubError(404, "This revision has no parquet data to show")
        config = next((c for c in dataset.configs if c.name == names[0]), None) if names else dataset.configs[0]
        if config is None:
            raise HubError(404, f"No config named {names[0]} at this revision")
        if not config.splits:
            raise HubError(404, f"The config {config.name} has no splits")
        if len(names) < 2:
            self._redirect(dataset.links.viewer(config.name, config.splits[0].name, dataset.revision))
            return
        split = config.split(names[1])
        if split is None:
            raise HubError(404, f"No split named {names[1]} in the config {config.name}")
        rows = SplitRows(dataset.repo, split)
        text, flag, row_id = self._query_value("q"), self._query_value("flag"), self._query_value("id")
        page = self._query_number("p")
        if row_id:
            offset = rows.offset_of(row_id)
            if offset is None:
                raise HubError(404, f"No row with id {row_id} in the {split.name} split at this revision")
            text, flag, page = "", "", offset // PAGE_ROWS
        found = rows.search(page * PAGE_ROWS, text=text, flag=flag) if text or flag else rows.page(page * PAGE_ROWS)
        pages = max(math.ceil(found.total / PAGE_ROWS), 1)
        self._send_page(
            "viewer.html",
            dataset=dataset,
            config=config,
            split=split,
            counts={s.name: s.rows(dataset.repo) for s in config.splits},
            columns=rows.columns(),
            found=found,
            flags=rows.flag_counts(),
            text=text,
            flag=flag,
            row_id=row_id,
            page=page,
            pager=_pager(page, pages),
            pages=pages,
            at=lambda revision: dataset.links.viewer(config.name, split.name, revision),
            page_link=lambda p: dataset.links.viewer(config.name, split.name, dataset.revision, q=text, flag=flag, p=p),
        )

    def _tree_page(self, dataset: Dataset, path: str) -> None:
        entries = dataset.repo.list_tree(dataset.commit, path)
        entries.sort(key=lambda entry: (entry.type != "directory", entry.path))
        parts = path.split("/") if path else []
        crumbs = [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]
        last = dataset.repo.log(dataset.commit, limit=1)
        self._send_page(
            "tree.html",
            dataset=dataset,
            path=path,
            crumbs=crumbs,
            entries=entries,
            last=last[0] if last else None,
            at=lambda revision: dataset.links.tree(revision, path),
        )

    def _versions_page(self, dataset: Dataset) -> None:
        found = releases(dataset.repo)
        splits = list(dict.fromkeys(name for release in found for name in release.rows))
        self._send_page("versions.html", dataset=dataset, releases=found, splits=splits)

    def _changelog_page(self, dataset: Dataset) -> None:
        tags = [tag for tag in dataset.tags if RELEASE_TAG.fullmatch(tag.name)]
        names = [tag.name for tag in tags]
        new = self._query_value("to") or next(iter(names), "")
        older = names[names.index(new) + 1 :] if new in names else []
        old = self._query_value("from") or next(iter(older), "")
        kind = self._query_value("kind")
        context = {"dataset": dataset, "tags": names, "old": old, "new": new, "kinds": KINDS, "kind": kind}
        if old not in names or new not in names or old == new:
            problem = "Pick two different releases to compare." if len(names) > 1 else "There is no pair of releases."
            self._send_page("changelog.html", comparison=None, problem=problem, **context)
            return
        commits = {tag.name: tag.target for tag in tags}
        comparison = compare(dataset.repo, commits[old], commits[new])
        if comparison is None:
            problem = "A release holds no manifest.parquet, which lists its rows: there is nothing to compare."
            self._send_page("changelog.html", comparison=None, problem=problem, **context)
            return
        kind = kind if kind in KINDS else next((k for k in KINDS if comparison.rows[k].num_rows), KINDS[0])
        listed = comparison.rows[kind]
        page = self._query_number("p")
        pages = max(math.ceil(listed.num_rows / PAGE_ROWS), 1)
        self._send_page(
            "changelog.html",
            **{**context, "kind": kind},
            comparison=comparison,
            problem=None,
            config=dataset.configs[0].name if dataset.configs else "default",
            listed=listed.slice(page * PAGE_ROWS, PAGE_ROWS).to_pylist(),
            page=page,
            pages=pages,
            pager=_pager(page, pages),
            page_link=lambda p: dataset.links.changelog(old, new, kind=kind, p=p),
        )

    # The API's Croissant answer

    def _croissant(self, repo_type: str, repo_id: str) -> None:
        if repo_type != "dataset":
            raise HubError(404, "Croissant describes datasets only")
        revision = self._query_value("revision") or storage.DEFAULT_BRANCH
        repo = self._repo(repo_type, repo_id)
        commit = self._resolve_rev(repo, revision)
        configs = revision_configs(repo, commit)
        if not configs:
            raise errors.entry_not_found("This revision has no parquet data to describe", commit=commit)
        _, tags = repo.refs()
        released = newest_first([tag for tag in tags if tag.target == commit and RELEASE_TAG.fullmatch(tag.name)])
        base = self._base_url()
        card = read_card(repo.readme_text(commit), ["parquet"])
        page = Links(repo_id).card(revision)
        self._send_json(
            croissant.describe(
                repo,
                card,
                configs[0],
                name=repo_id.split("/")[1],
                url=f"{base}{page}",
                file_url=f"{base}/datasets/{repo_id}/resolve/{commit}",
                version=released[0].name.removeprefix("v") if released else None,
                date=released[0].date if released else repo.commit_date(commit),
            )
        )


def _local(url: str) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    parts = urlsplit(url)
    if not url.startswith("/") or url.startswith("//") or "\\" in url or parts.scheme or parts.netloc:
        return "/datasets"
    return url


def _pager(page: int, pages: int) -> list[int]:
    """The page numbers a pager links: the first, the last, and those near the current one."""
    near = range(max(page - _PAGER_SPAN, 0), min(page + _PAGER_SPAN, pages - 1) + 1)
    return sorted({0, pages - 1, *near})


def _pinned(revision: str) -> str | None:
    return None if revision == storage.DEFAULT_BRANCH else revision


def _snippet(repo_id: str, revision: str | None) -> str:
    pinned = f", revision={json.dumps(revision)}" if revision else ""
    return f'from datasets import load_dataset\n\nds = load_dataset("{repo_id}"{pinned})'

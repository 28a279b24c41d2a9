"""The dataset pages in headless Chromium against the session's Hub holding two releases of the reconstruction: what a
person sees and clicks, compared with what the Hub's API and `pipeline.publish changelog` give."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx2
import pyarrow.parquet as pq
import pytest
import yaml
from playwright.sync_api import Error as PlaywrightError

from localhub import cardcheck
from pipeline import publish
from tests.localhub.pages.corpus import HOSTILE, NEW, OLD

PAGE_ROWS = 100
# The cells of the viewer's rows, by column; a list column as its items.
ROWS_SCRIPT = """rows => rows.map(row => Object.fromEntries(
  [...row.querySelectorAll('td[data-column]')].map(cell => [
    cell.dataset.column,
    'list' in cell.dataset ? [...cell.querySelectorAll('.chip')].map(chip => chip.textContent) : cell.textContent,
  ])))"""


# Headless Chromium now and then answers a capture with "Unable to capture screenshot" while its compositor is busy
# on a loaded machine; the page is unchanged, so the capture is asked for again.
CAPTURE_ATTEMPTS = 3


def capture(page, path: Path) -> None:
    for attempt in range(CAPTURE_ATTEMPTS):
        try:
            page.screenshot(path=path)
            return
        except PlaywrightError:
            if attempt == CAPTURE_ATTEMPTS - 1:
                raise
            page.wait_for_timeout(250)


def visit(page, url: str, screenshots: Path | None = None, name: str | None = None, status: int = 200):
    response = page.goto(url)
    assert response.status == status, f"{url}: {response.status}"
    if name:
        capture(page, screenshots / f"{name}.png")
    return response


def shown_rows(page) -> list[dict]:
    return page.eval_on_selector_all("table.rows tbody tr", ROWS_SCRIPT)


def query(page) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(page.url).query).items()}


def viewer(corpus, split: str = "train", **params: str) -> str:
    url = f"/datasets/{corpus.repo_id}/viewer/default/{split}"
    return url + ("?" + "&".join(f"{key}={quote(value)}" for key, value in params.items()) if params else "")


def card_metadata(corpus, version: str) -> dict:
    return cardcheck.front_matter((corpus.folders[version] / "README.md").read_text(encoding="utf-8"))


def test_the_card_renders_with_its_yaml_facts_citation_and_snippet(page, console, context, corpus, screenshots):
    metadata = card_metadata(corpus, NEW)
    visit(page, f"/datasets/{corpus.repo_id}", screenshots, "card")
    facts = {
        label: page.locator(f'[data-fact="{label}"] dd').all_text_contents()
        for label in ("Tasks", "Formats", "Languages", "Size", "Tags", "License")
    }
    assert facts == {
        "Tasks": ["Translation"],
        "Formats": ["parquet"],
        "Languages": ["en", "fr"],
        "Size": ["1K - 10K"],
        "Tags": metadata["tags"],
        "License": [metadata["license"]],
    }
    assert page.locator(".card-body h1").first.text_content() == metadata["pretty_name"]
    assert page.locator(".card-body table").count() >= 1, "the card's Markdown tables are rendered"
    assert 'load_dataset("maintainer/nyu-en-fr-pages", revision="v2.0.0")' in page.locator(".snippet").text_content()

    citation = page.locator("#citation").text_content()
    assert citation.startswith("@misc{") and "version      = {2.0.0}" in citation
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == citation

    croissant = page.locator("a.croissant").get_attribute("href")
    assert croissant == f"/api/datasets/{corpus.repo_id}/croissant"
    assert page.request.get(croissant).json()["version"] == NEW


def test_split_tabs_show_each_splits_row_count(page, console, corpus, released_rows, screenshots):
    visit(page, viewer(corpus), screenshots, "viewer")
    for split, rows in released_rows(f"v{NEW}").items():
        assert page.locator(f'.splits a[data-split="{split}"] .count').text_content() == f"{len(rows):,}"
    page.locator('.splits a[data-split="validation"]').click()
    assert page.url.endswith("/viewer/default/validation")
    assert shown_rows(page) == released_rows(f"v{NEW}")["validation"][:PAGE_ROWS]


def test_paging_gives_the_rows_the_api_gives(page, console, corpus, released_rows):
    train = released_rows(f"v{NEW}")["train"]
    visit(page, viewer(corpus))
    assert [page.locator(f".summary .{part}").text_content() for part in ("first", "last", "total")] == [
        "1",
        "100",
        f"{len(train):,}",
    ]
    assert shown_rows(page) == train[:PAGE_ROWS]
    page.locator(".pager a[rel=next]").first.click()
    assert query(page)["p"] == "1"
    assert shown_rows(page) == train[PAGE_ROWS : 2 * PAGE_ROWS]
    last = (len(train) - 1) // PAGE_ROWS
    page.locator(".pager a", has_text=re.compile(rf"^{last + 1}$")).click()
    assert shown_rows(page) == train[last * PAGE_ROWS :]


def test_search_gives_the_rows_the_api_gives(page, console, corpus, released_rows, screenshots):
    text = "gradient"
    expected = [
        row
        for row in released_rows(f"v{NEW}")["train"]
        if any(text in row[column].lower() for column in ("id", "translation.en", "translation.fr"))
    ]
    assert len(expected) > PAGE_ROWS, "the search spans several pages"
    visit(page, viewer(corpus))
    page.get_by_label("Search this split").fill(text)
    page.get_by_role("button", name="Search").click()
    capture(page, screenshots / "viewer-search.png")
    assert query(page)["q"] == text
    assert page.locator(".summary .total").text_content() == f"{len(expected):,}"
    assert shown_rows(page) == expected[:PAGE_ROWS]
    page.locator(".pager a[rel=next]").first.click()
    assert shown_rows(page) == expected[PAGE_ROWS : 2 * PAGE_ROWS]


def test_the_flag_filter_shows_the_rows_with_that_flag(page, console, corpus, released_rows, screenshots):
    flagged = [row for row in released_rows(f"v{NEW}")["train"] if "markup" in row["flags"]]
    visit(page, viewer(corpus))
    page.get_by_label("Flag").select_option("markup")
    page.get_by_role("button", name="Search").click()
    capture(page, screenshots / "viewer-flag.png")
    assert query(page)["flag"] == "markup"
    assert page.get_by_label("Flag").locator("option:checked").text_content() == f"markup ({len(flagged)})"
    assert shown_rows(page) == flagged
    # A flag shown on a row is a link to the same filter.
    page.locator('td[data-column="flags"] a.chip', has_text="markdown_emphasis").first.click()
    assert query(page)["flag"] == "markdown_emphasis"
    assert all("markdown_emphasis" in row["flags"] for row in shown_rows(page))


def test_switching_to_the_older_tag_shows_its_rows(page, console, corpus, released_rows, screenshots):
    old = released_rows(f"v{OLD}")
    visit(page, f"/datasets/{corpus.repo_id}")
    page.locator("details.revisions summary").click()
    page.locator("details.revisions a", has_text=f"v{OLD}").click()
    assert query(page) == {"revision": f"v{OLD}"}
    assert f'revision="v{OLD}"' in page.locator(".snippet").text_content()
    page.get_by_role("link", name="Viewer").click()
    capture(page, screenshots / "viewer-older-tag.png")
    assert query(page)["revision"] == f"v{OLD}"
    assert page.locator(".revision").text_content() == f"v{OLD}"
    for split, rows in old.items():
        assert page.locator(f'.splits a[data-split="{split}"] .count').text_content() == f"{len(rows):,}"
    assert shown_rows(page) == old["train"][:PAGE_ROWS]
    assert old["train"][:PAGE_ROWS] != released_rows(f"v{NEW}")["train"][:PAGE_ROWS]


def test_a_row_has_a_permanent_link_by_id(page, console, corpus, released_rows):
    train = released_rows(f"v{NEW}")["train"]
    visit(page, viewer(corpus, p="3"))
    target = train[3 * PAGE_ROWS + 41]
    page.locator(f'tr[id="{target["id"]}"] a.permalink').click()
    assert query(page) == {"revision": f"v{NEW}", "id": target["id"]}, "a tag: a release never changes"
    assert page.locator("tr.target").count() == 1
    assert shown_rows(page)[41] == target
    assert page.locator("tr.target td[data-column=id]").text_content() == target["id"]


def test_changelog_counts_equal_those_of_publish_changelog(page, console, corpus, hub, monkeypatch, screenshots):
    monkeypatch.setenv("HF_TOKEN", hub.read_token)
    printed = publish.changelog(corpus.params, OLD, NEW)
    expected = {kind: _counts(printed, kind) for kind in ("added", "changed", "removed")}
    visit(page, f"/datasets/{corpus.repo_id}/changelog", screenshots, "changelog")
    assert (page.locator("select[name=from]").input_value(), page.locator("select[name=to]").input_value()) == (
        f"v{OLD}",
        f"v{NEW}",
    )
    shown = {}
    for kind in expected:
        row = page.locator(f'table.changes tr[data-kind="{kind}"]')
        by_split = {
            cell.get_attribute("data-split"): int(cell.text_content().replace(",", ""))
            for cell in row.locator("td[data-split]").all()
        }
        total = int(row.locator("td.total").text_content().replace(",", ""))
        shown[kind] = (total, {split: count for split, count in by_split.items() if count})
    assert shown == expected
    moved = int(page.locator('tr[data-kind="moved"] td.total').text_content())
    assert f"- moved between splits: {moved}" in printed
    assert f"- unchanged: {page.locator('.unchanged').text_content()}" in printed
    assert f"Smallest version bump these changes allow: {page.locator('.bump').text_content()}." in printed

    page.locator('.kinds a[data-kind="removed"]').click()
    links = page.locator("a.old-row-link")
    assert links.count() == expected["removed"][0]
    removed_id = links.first.text_content()
    links.first.click()
    assert query(page) == {"revision": f"v{OLD}", "id": removed_id}
    assert page.locator("tr.target td[data-column=id]").text_content() == removed_id

    visit(page, f"/datasets/{corpus.repo_id}/changelog?kind=changed")
    page.locator("a.row-link").first.click()
    assert page.locator('tr.target td[data-column="translation.fr"]').text_content().endswith(" (révisé)")


def _counts(printed: str, kind: str) -> tuple[int, dict[str, int]]:
    """`- added: 2 (train 2)` as (2, {"train": 2}), from the changelog `pipeline.publish changelog` prints."""
    match = re.search(rf"^- {kind}[^:]*: ([\d,]+)(?: \((.*)\))?$", printed, re.MULTILINE)
    by_split = dict(part.split(" ") for part in match[2].split(", ")) if match[2] else {}
    return int(match[1].replace(",", "")), {split: int(count.replace(",", "")) for split, count in by_split.items()}


def test_markup_in_rows_is_shown_as_text_and_never_runs(page, console, corpus, screenshots):
    visit(page, viewer(corpus, q="window.__injected"), screenshots, "viewer-markup-as-text")
    shown = {(row["translation.en"], row["translation.fr"]) for row in shown_rows(page)}
    assert shown == set(HOSTILE)
    assert page.locator("table.rows script, table.rows img").count() == 0
    assert page.evaluate("window.__injected") is None


def test_markup_in_a_card_its_metadata_and_its_data_is_shown_as_text(page, console, hostile_repo, screenshots):
    repo_id, markup = hostile_repo
    pages = [
        f"/datasets/{repo_id}",
        f"/datasets/{repo_id}/viewer/default/train",
        f"/datasets/{repo_id}/tree/main/data",
        f"/datasets/{repo_id}/versions",
        "/datasets",
    ]
    for number, url in enumerate(pages):
        visit(page, url, screenshots, f"markup-{number}")
        assert page.evaluate("window.__injected") is None, url
        assert page.locator("main script, main img, main iframe").count() == 0, url
    visit(page, pages[0])
    assert page.locator(".pretty-name").text_content() == markup
    assert markup in page.locator('[data-fact="Tags"]').text_content()
    assert "<script>" in page.locator(".card-body").text_content()
    assert page.locator('.card-body a[href^="javascript"]').count() == 0
    visit(page, pages[1])
    assert shown_rows(page)[0]["translation.en"] == markup
    assert shown_rows(page)[0]["flags"] == [markup]


@pytest.fixture
def hostile_repo(hub, repo_id, tmp_path) -> tuple[str, str]:
    """A repo whose card, YAML header, file names and rows all hold markup that runs if a page does not escape it."""
    import pyarrow as pa
    from huggingface_hub import HfApi

    markup = '<script>window.__injected = 1</script><img src=x onerror="window.__injected = 2">\'"&'
    folder = tmp_path / "hostile"
    (folder / "data").mkdir(parents=True)
    metadata = {"license": "mit", "pretty_name": markup, "tags": [markup], "language": ["en"]}
    body = f"# Card\n\n{markup}\n\n[a link](javascript:window.__injected=3)\n\n```bibtex\n{markup}\n```\n"
    (folder / "README.md").write_text(f"---\n{yaml.safe_dump(metadata)}---\n{body}", encoding="utf-8")
    rows = pa.table(
        {
            "id": [f"{markup}-{i}" for i in range(3)],
            "translation": [{"en": markup, "fr": markup}] * 3,
            "line": [1, 2, 3],
            "flags": [[markup]] * 3,
        }
    )
    pq.write_table(rows, folder / "data" / "train-<img src=x onerror=window.__injected=4>.parquet")
    api = HfApi(token=hub.write_token)
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset")
    api.create_tag(repo_id, tag="v1.0.0", repo_type="dataset")
    return repo_id, markup


def test_a_private_repos_pages_need_the_login(page, console, context, private_repo, hub, screenshots):
    console.expect(r"status of 40[14]")
    card = f"/datasets/{private_repo}"
    visit(page, card, screenshots, "private-anonymous", status=404)
    assert page.get_by_role("heading", name="Repository not found").is_visible()
    assert page.locator(".dataset-head").count() == 0 and "Tiny pairs" not in page.content()
    visit(page, "/datasets")
    assert page.locator(".repos", has_text=private_repo).count() == 0

    visit(page, card, status=404)
    page.get_by_role("link", name="log in", exact=True).click()
    page.get_by_label("Token").fill("hf_not_a_token")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").text_content() == "This server knows no such token."
    page.get_by_label("Token").fill(hub.read_token)
    capture(page, screenshots / "login.png")
    page.get_by_role("button", name="Log in").click()
    assert urlsplit(page.url).path == card
    assert page.locator(".dataset-head h1 a").text_content() == private_repo
    assert page.locator(".who").text_content() == "reader"
    (cookie,) = context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["value"]) == (True, "Strict", hub.read_token)
    assert page.evaluate("document.cookie") == "", "no script can read the token"
    visit(page, f"{card}/viewer/default/train", screenshots, "private-logged-in")
    assert len(shown_rows(page)) == 8
    assert page.request.get(f"/api/datasets/{private_repo}/croissant").ok

    page.get_by_role("button", name="Log out").click()
    assert context.cookies() == []
    visit(page, card, status=404)


def test_the_files_page_lists_each_file_with_its_storage(page, console, corpus, screenshots):
    visit(page, f"/datasets/{corpus.repo_id}/tree/v{NEW}", screenshots, "files")
    names = page.locator("table.files td:first-child a").all_text_contents()
    assert names[0] == "data/" and {"README.md", "CITATION.cff", "manifest.parquet"} <= set(names)
    page.get_by_role("link", name="data/").click()
    shards = sorted((corpus.folders[NEW] / "data").glob("*.parquet"))
    rows = page.locator("table.files tbody tr")
    assert rows.locator("td:first-child").all_text_contents() == [shard.name for shard in shards]
    for row, shard in zip(rows.all(), shards, strict=True):
        assert row.locator("td").nth(2).text_content() == "Xet"
        assert row.locator("code").text_content() == hashlib.sha256(shard.read_bytes()).hexdigest()[:16]
    assert page.request.get(rows.first.locator("a").get_attribute("href")).body() == shards[0].read_bytes()


def test_the_versions_page_lists_each_release(page, console, corpus, released_rows, screenshots):
    from huggingface_hub import HfApi

    tags = {tag.name: tag.target_commit for tag in HfApi().list_repo_refs(corpus.repo_id, repo_type="dataset").tags}
    visit(page, f"/datasets/{corpus.repo_id}/versions", screenshots, "versions")
    assert page.locator("table.releases tbody tr").evaluate_all("rows => rows.map(r => r.dataset.tag)") == [
        f"v{NEW}",
        f"v{OLD}",
    ]
    for tag, commit in tags.items():
        row = page.locator(f'tr[data-tag="{tag}"]')
        assert row.locator("code").text_content() == commit[:12]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row.locator("td").first.text_content())
        for split, rows in released_rows(tag).items():
            assert row.locator(f'td[data-split="{split}"]').text_content() == f"{len(rows):,}"
    page.get_by_role("link", name=f"since v{OLD}").click()
    assert query(page) == {"from": f"v{OLD}", "to": f"v{NEW}"}


def test_the_repo_list_links_each_public_dataset(page, console, corpus, screenshots):
    visit(page, "/", screenshots, "datasets")
    assert urlsplit(page.url).path == "/datasets"
    page.get_by_role("link", name=corpus.repo_id, exact=True).click()
    assert urlsplit(page.url).path == f"/datasets/{corpus.repo_id}"


def test_every_page_answers_within_200_ms_on_the_reconstruction(corpus, hub):
    (shard,) = (corpus.folders[NEW] / "data").glob("train-*.parquet")
    row_id = pq.read_table(shard, columns=["id"])["id"][1500].as_py()
    pages = [
        f"/datasets/{corpus.repo_id}",
        f"/datasets/{corpus.repo_id}?revision=v{OLD}",
        viewer(corpus),
        viewer(corpus, p="12"),
        viewer(corpus, q="gradient"),
        viewer(corpus, flag="markup"),
        viewer(corpus, id=row_id),
        f"/datasets/{corpus.repo_id}/tree/main/data",
        f"/datasets/{corpus.repo_id}/versions",
        f"/datasets/{corpus.repo_id}/changelog",
        f"/api/datasets/{corpus.repo_id}/croissant",
    ]
    slow = {}
    with httpx2.Client(base_url=hub.endpoint) as client:
        for url in pages:
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                client.get(url)
                timings.append(time.perf_counter() - started)
            if min(timings) >= 0.2:
                slow[url] = min(timings)
    assert slow == {}


def test_the_login_form_is_refused_from_another_site_and_never_leaves_this_one(hub):
    with httpx2.Client(base_url=hub.endpoint, follow_redirects=False) as client:
        foreign = client.post("/login", data={"token": hub.read_token}, headers={"Origin": "http://example.org"})
        assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
        for away in ("https://example.org/", "//example.org/x", "/\\example.org"):
            answer = client.post("/login", data={"token": hub.read_token, "next": away})
            assert (answer.status_code, answer.headers["location"]) == (303, "/datasets")


def test_the_login_cookie_is_honoured_for_reads_only(hub, repo_id):
    cookie = {"Cookie": f"localhub_token={hub.write_token}"}
    with httpx2.Client(base_url=hub.endpoint) as client:
        assert client.get("/api/whoami-v2", headers=cookie).json()["name"] == hub.user
        created = client.post(
            "/api/repos/create", json={"name": repo_id.split("/")[1], "type": "dataset"}, headers=cookie
        )
        assert created.status_code == 401
        unknown = client.get("/api/whoami-v2", headers={"Cookie": "localhub_token=hf_unknown"})
        assert unknown.status_code == 401, "an unknown cookie is an anonymous reader, not an error"

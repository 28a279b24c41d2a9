"""Fixtures of the page tests: the reconstruction's two releases on the session's Hub, the rows a consumer loads from
them, a private repo, and headless Chromium from the system's package, watched for console errors."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.localhub.hubdata import write_dataset_folder
from tests.localhub.pages.corpus import Corpus, publish_two_releases

# Debian's package; Playwright never downloads a browser here (`.ci/run` installs this one where it is missing).
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Where the tests leave a picture of each page they visit (ignored by git).
SCREENSHOTS = REPO / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set CHROMIUM to its path)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM)}


@pytest.fixture(scope="session")
def base_url(hub) -> str:
    return hub.endpoint


@pytest.fixture(scope="session")
def corpus(hub, tmp_path_factory) -> Corpus:
    return publish_two_releases(tmp_path_factory.mktemp("corpus"), hub, f"{hub.user}/nyu-en-fr-pages")


@pytest.fixture(scope="session")
def released_rows(corpus, tmp_path_factory):
    """The rows of a release as `datasets.load_dataset` gives them, by split, loaded once per tag."""
    import datasets

    loaded: dict[str, dict[str, list[dict]]] = {}

    def rows(tag: str) -> dict[str, list[dict]]:
        if tag not in loaded:
            cache = tmp_path_factory.mktemp("load")
            release = datasets.load_dataset(corpus.repo_id, revision=tag, cache_dir=str(cache))
            loaded[tag] = {split: [_row(record) for record in ds] for split, ds in release.items()}
        return loaded[tag]

    return rows


def _row(record: dict, prefix: str = "") -> dict:
    """A loaded row as the viewer's cells show it: nested columns by their leaves (`translation.en`), values as text,
    lists as their items."""
    cells = {}
    for name, value in record.items():
        if isinstance(value, dict):
            cells.update(_row(value, f"{prefix}{name}."))
        elif isinstance(value, list):
            cells[prefix + name] = [str(item) for item in value]
        else:
            cells[prefix + name] = "null" if value is None else str(value)
    return cells


@pytest.fixture
def private_repo(hub, repo_id, tmp_path) -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=hub.write_token)
    api.create_repo(repo_id, repo_type="dataset", private=True)
    api.upload_folder(folder_path=write_dataset_folder(tmp_path / "private"), repo_id=repo_id, repo_type="dataset")
    return repo_id


@dataclass
class Console:
    """What the browser reported while a test ran: console errors and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)
    # A page answered 404 on purpose logs that status as a console error.
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [error for error in self.errors if not any(pattern.search(error) for pattern in self.expected)]


@pytest.fixture
def console(page) -> Iterator[Console]:
    found = Console()
    page.on("console", lambda message: found.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: found.errors.append(f"uncaught: {error}"))
    yield found
    assert found.unexpected() == [], "the browser console has errors"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir()
    return SCREENSHOTS

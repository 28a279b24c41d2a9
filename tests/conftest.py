"""Session setup: isolates the Hugging Face caches and points the clients at one embedded LocalHub."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from localhub import LocalHub, Token

WRITE_TOKEN = "hf_test_write_" + uuid.uuid4().hex
READ_TOKEN = "hf_test_read_" + uuid.uuid4().hex
USER = "maintainer"


@dataclass(frozen=True)
class HubSession:
    endpoint: str
    write_token: str
    read_token: str
    data_dir: Path
    user: str


_session: dict = {}


def pytest_configure(config: pytest.Config) -> None:
    # Both clients read these at import time, so they must be set before any test module imports them.
    early = [name for name in ("huggingface_hub", "datasets") if name in sys.modules]
    if early:
        raise pytest.UsageError(
            f"{', '.join(early)} was imported before tests/conftest.py could set HF_ENDPOINT; "
            "import it inside tests or fixtures, not at the top of a conftest.py"
        )
    tmp = Path(tempfile.mkdtemp(prefix="tests-hf-"))
    os.environ.update(
        {
            "HF_HOME": str(tmp / "hf-home"),
            "HF_DATASETS_CACHE": str(tmp / "hf-datasets"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_UPDATE_DOWNLOAD_COUNTS": "0",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        }
    )
    for name in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "HUGGINGFACE_CO_STAGING",
    ):
        os.environ.pop(name, None)
    tokens = {WRITE_TOKEN: Token(user=USER, write=True), READ_TOKEN: Token(user="reader", write=False)}
    hub = LocalHub(data_dir=tmp / "localhub", tokens=tokens).start()
    os.environ["HF_ENDPOINT"] = hub.endpoint
    _session.update(tmp=tmp, hub=hub)


def pytest_unconfigure(config: pytest.Config) -> None:
    if "hub" in _session:
        _session.pop("hub").stop()
        shutil.rmtree(_session.pop("tmp"), ignore_errors=True)


@pytest.fixture(scope="session")
def hub() -> HubSession:
    server = _session["hub"]
    return HubSession(server.endpoint, WRITE_TOKEN, READ_TOKEN, server.data_dir, USER)


@pytest.fixture
def repo_id(hub: HubSession) -> str:
    """A repo id no other test uses, in the write token's namespace."""
    return f"{hub.user}/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """The address of a Dask LocalCluster of 2 worker processes (one thread each) on the loopback interface, shared
    by the tests that run stages on the dask engine."""
    from pipeline.cluster import local_cluster

    with local_cluster(2) as cluster:
        yield cluster.scheduler_address

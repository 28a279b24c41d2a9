"""`python -m localhub` as a separate process: serves on the given port, writes with LOCALHUB_TOKEN, logs no token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(data_dir: Path, port: int, token: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("LOCALHUB_TOKEN", "LOCALHUB_USER")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if token:
        env |= {"LOCALHUB_TOKEN": token, "LOCALHUB_USER": "publisher"}
    return subprocess.Popen(
        [sys.executable, "-m", "localhub", "--data-dir", str(data_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def test_command_serves_writes_with_the_env_token_and_never_logs_it(tmp_path):
    token = "cli-secret-token-3141"
    port = _free_port()
    proc = _start(tmp_path / "hub", port, token)
    try:
        banner = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner and "publisher" in banner
        api = HfApi(endpoint=f"http://127.0.0.1:{port}", token=token)
        assert api.whoami()["name"] == "publisher"
        api.create_repo("publisher/cli", repo_type="dataset")
        api.upload_file(
            path_or_fileobj=b"from the cli test", path_in_repo="a.txt", repo_id="publisher/cli", repo_type="dataset"
        )
        path = api.hf_hub_download("publisher/cli", "a.txt", repo_type="dataset", local_dir=tmp_path / "dl")
        assert Path(path).read_bytes() == b"from the cli test"
    finally:
        code, out, err = _stop(proc)
    assert code == 0
    assert "/api/datasets/publisher/cli/commit/main" in err
    assert token not in out + err and "Bearer" not in out + err
    assert (tmp_path / "hub" / "datasets" / "publisher" / "cli.git").is_dir()


def test_command_without_token_is_read_only(tmp_path):
    port = _free_port()
    proc = _start(tmp_path / "hub", port, None)
    try:
        assert "read-only" in proc.stdout.readline()
        with pytest.raises(HfHubHTTPError) as info:
            HfApi(endpoint=f"http://127.0.0.1:{port}", token="anything").create_repo("x/y", repo_type="dataset")
        assert info.value.response.status_code == 401
    finally:
        code, _out, _err = _stop(proc)
    assert code == 0


def test_command_refuses_a_non_loopback_host(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "localhub", "--data-dir", str(tmp_path), "--host", "0.0.0.0", "--port", "0"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr and "Traceback" not in result.stderr

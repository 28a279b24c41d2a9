"""Benchmark of the embedded Hub's large-file path: one N-MiB file uploaded and downloaded through Xet, then read
over plain HTTP, with the server in its own process so that its memory is measured alone.

Starts `python -m localhub` on a free loopback port, uploads the file with `HfApi.upload_file` (hf_xet: xorbs and a
shard to the CAS), downloads it with `hf_hub_download` (hf_xet: reconstruction and presigned xorb ranges), then
streams it from its resolve URL as a client without hf_xet would. Checks every copy byte for byte and prints the
wall time of each step and the server's resident memory before and after it, then one line:

    mib=N upload_s=… download_s=… http_s=… server_peak_rss_mb=…

Usage: python bench/hub_transfer.py [--mib 200] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def rss_mib(pid: int, field: str) -> float:
    """`VmRSS` (now) or `VmHWM` (the peak so far) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} is not in /proc/{pid}/status")


def write_payload(path: Path, mib: int) -> str:
    """Incompressible content, as a Parquet shard mostly is; returns its sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(mib):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="size of the file in MiB (default 200)")
    parser.add_argument("--workdir", type=Path, help="where the server's data and the files go (default: a temp dir)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hub-transfer-"))
    work.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    server = subprocess.Popen(
        [sys.executable, "-m", "localhub", "--data-dir", str(work / "hub"), "--port", "0"],
        cwd=REPO,
        env={**os.environ, "LOCALHUB_TOKEN": token, "LOCALHUB_USER": "bench"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        endpoint = server.stdout.readline().split()[2]
        os.environ.update(
            {
                "HF_ENDPOINT": endpoint,
                "HF_HOME": str(work / "hf-home"),
                "HF_TOKEN": token,
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            }
        )
        import httpx2
        from huggingface_hub import HfApi, hf_hub_download

        payload = work / "payload.bin"
        expected = write_payload(payload, args.mib)
        api = HfApi()
        api.create_repo("bench/transfer", repo_type="dataset", exist_ok=True)
        rows = []

        def step(name: str, action) -> None:
            before = rss_mib(server.pid, "VmRSS")
            started = time.perf_counter()
            action()
            rows.append((name, time.perf_counter() - started, before, rss_mib(server.pid, "VmHWM")))

        step(
            "upload (xet)",
            lambda: api.upload_file(
                path_or_fileobj=str(payload),
                path_in_repo="data/payload.bin",
                repo_id="bench/transfer",
                repo_type="dataset",
            ),
        )
        downloaded = {}
        step(
            "download (xet)",
            lambda: downloaded.update(
                path=Path(
                    hf_hub_download(
                        "bench/transfer", "data/payload.bin", repo_type="dataset", local_dir=work / "download"
                    )
                )
            ),
        )
        plain = work / "plain.bin"

        def http_get() -> None:
            with httpx2.stream("GET", f"{endpoint}/datasets/bench/transfer/resolve/main/data/payload.bin") as answer:
                answer.raise_for_status()
                with open(plain, "wb") as out:
                    out.writelines(answer.iter_bytes(1024 * 1024))

        step("plain HTTP GET", http_get)
        for name, path in (("download (xet)", downloaded["path"]), ("plain HTTP GET", plain)):
            if sha256_of(path) != expected:
                raise SystemExit(f"{name}: the copy differs from the upload")
        entry = api.get_paths_info("bench/transfer", ["data/payload.bin"], repo_type="dataset")[0]
        if entry.xet_hash is None or entry.lfs.sha256 != expected:
            raise SystemExit("the file is not stored through Xet with the uploaded content's sha256")
    finally:
        server.terminate()
        server.wait()
    print(f"{'step':<16} {'wall s':>8} {'MiB/s':>8} {'server RSS before MiB':>22} {'server peak RSS MiB':>20}")
    for name, seconds, before, peak in rows:
        print(f"{name:<16} {seconds:>8.1f} {args.mib / seconds:>8.0f} {before:>22.0f} {peak:>20.0f}")
    print(
        f"mib={args.mib} upload_s={rows[0][1]:.1f} download_s={rows[1][1]:.1f} http_s={rows[2][1]:.1f} "
        f"server_peak_rss_mb={max(row[3] for row in rows):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

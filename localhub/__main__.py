"""Command line: `python -m localhub --data-dir DIR [--host 127.0.0.1] [--port 8123]`, token from LOCALHUB_TOKEN."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from localhub import LocalHub, Token
from localhub.limits import MIB, Limits
from pipeline.process import without


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localhub", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="where the git repositories are kept")
    parser.add_argument("--host", default="127.0.0.1", help="IPv4 loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8123, help="port to bind; 0 picks a free one (default 8123)")
    parser.add_argument(
        "--max-commit-mib",
        type=int,
        default=Limits.commit_bytes // MIB,
        help=f"largest commit request in MiB (default {Limits.commit_bytes // MIB})",
    )
    parser.add_argument(
        "--socket-timeout",
        type=float,
        default=Limits.socket_timeout_seconds,
        help=f"seconds before an idle connection is closed (default {Limits.socket_timeout_seconds:g})",
    )
    args = parser.parse_args(argv)
    # The server never uses pandas; pyarrow imports it the first time it converts a Python value (a search's text),
    # only to check that it is not a pandas object. Refusing the import spares the first search half a second.
    without("pandas")
    limits = Limits(commit_bytes=args.max_commit_mib * MIB, socket_timeout_seconds=args.socket_timeout)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    secret = os.environ.get("LOCALHUB_TOKEN", "")
    user = os.environ.get("LOCALHUB_USER", "maintainer")
    if secret and not secret.strip():
        print(
            "localhub: LOCALHUB_TOKEN is blank; set it to a secret (openssl rand -hex 16) or unset it for a "
            "read-only server",
            file=sys.stderr,
        )
        return 2
    tokens = {secret: Token(user=user, write=True)} if secret else {}

    try:
        hub = LocalHub(data_dir=args.data_dir, tokens=tokens, host=args.host, port=args.port, limits=limits)
        hub.start()
    except (ValueError, OSError) as exc:
        print(f"localhub: cannot start: {exc}", file=sys.stderr)
        return 2
    mode = f"writes allowed for user {user!r}" if secret else "read-only (LOCALHUB_TOKEN is not set)"
    print(f"localhub serving {hub.endpoint} from {args.data_dir}, {mode}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    hub.serve_until(stop)
    print("localhub stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

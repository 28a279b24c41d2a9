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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localhub", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="where the git repositories are kept")
    parser.add_argument("--host", default="127.0.0.1", help="IPv4 loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8123, help="port to bind; 0 picks a free one (default 8123)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    secret = os.environ.get("LOCALHUB_TOKEN", "")
    user = os.environ.get("LOCALHUB_USER", "maintainer")
    tokens = {secret: Token(user=user, write=True)} if secret else {}

    try:
        hub = LocalHub(data_dir=args.data_dir, tokens=tokens, host=args.host, port=args.port)
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

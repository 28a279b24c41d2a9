"""A loopback HTTP proxy in front of a Hub that answers 503 to the first requests matching a pattern, and can
lose a file from commits or alter its content there, as a faulty upload path would.

It stands at the process boundary: the clients speak the real Hub protocol through it, and every other request
is forwarded unchanged.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultyHub:
    def __init__(
        self,
        upstream: str,
        fail: str = "^$",
        times: int = 0,
        lose_file: str | None = None,
        alter_file: str | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.lose_file = lose_file
        self.alter_file = alter_file
        self.altered: list[str] = []
        self.pattern = re.compile(fail)
        self.remaining = times
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultyHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _should_fail(self, method: str, path: str) -> bool:
        with self._lock:
            if self.remaining and self.pattern.search(f"{method} {path}"):
                self.remaining -= 1
                self.failed.append(f"{method} {path}")
                return True
        return False

    def _altered(self, body: bytes) -> bytes:
        """The commit's NDJSON lines with other bytes under `alter_file`: an inline file gets a line appended, and a
        file uploaded through LFS or Xet points at the content of another file the commit uploaded."""
        lines = [json.loads(line) for line in body.split(b"\n") if line.strip()]
        uploaded = [line["value"] for line in lines if line["key"] == "lfsFile"]
        for line in lines:
            target = line["value"]
            if target.get("path") != self.alter_file or line["key"] not in ("file", "lfsFile"):
                continue
            if line["key"] == "file":
                content = base64.b64decode(target["content"]) + b"\n# altered on the way to the Hub\n"
                target["content"] = base64.b64encode(content).decode()
            else:
                other = next(value for value in uploaded if value["oid"] != target["oid"])
                target.update(oid=other["oid"], size=other["size"])
            with self._lock:
                self.altered.append(self.alter_file)
        return b"".join(json.dumps(line).encode() + b"\n" for line in lines)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy._should_fail(self.command, self.path):
                    payload = b'{"error": "injected outage"}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if body and proxy.lose_file and re.search(r"/commit/", self.path):
                    body = b"\n".join(line for line in body.split(b"\n") if proxy.lose_file.encode() not in line)
                    self.headers.replace_header("Content-Length", str(len(body)))
                if body and proxy.alter_file and re.search(r"/commit/", self.path):
                    body = proxy._altered(body)
                    self.headers.replace_header("Content-Length", str(len(body)))
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                self.send_response(response.status)
                # A HEAD answer has no body but the Content-Length of the GET one, which clients read as the size.
                kept = (
                    ("transfer-encoding", "connection")
                    if self.command == "HEAD"
                    else ("transfer-encoding", "connection", "content-length")
                )
                for key, value in response.getheaders():
                    if key.lower() not in kept:
                        self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                upstream.close()

            do_GET = do_POST = do_HEAD = do_DELETE = do_PUT = _forward

        return Handler

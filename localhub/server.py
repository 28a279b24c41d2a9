"""Runs the Hub HTTP API on a loopback port in a background thread: `LocalHub`."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path

from localhub.auth import Authenticator, Token
from localhub.limits import Limits
from localhub.routes import HubRequestHandler
from localhub.signing import Signer
from localhub.storage import RepoStore


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: RepoStore, auth: Authenticator, limits: Limits):
        self.store = store
        self.auth = auth
        self.limits = limits
        self.signer = Signer()
        self.request_queue_size = limits.listen_backlog
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, HubRequestHandler)

    def get_request(self):
        conn, addr = super().get_request()
        with self._connections_lock:
            self._connections.add(conn)
        return conn, addr

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they end with the server."""
        with self._connections_lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"localhub binds to an IPv4 loopback address only (such as 127.0.0.1), not {host!r}")


class LocalHub:
    """A Hub-compatible server over repos stored in `data_dir`; use as a context manager or start()/stop()."""

    def __init__(
        self,
        data_dir: Path,
        tokens: Mapping[str, Token] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
    ):
        _check_loopback(host)
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self._store = RepoStore(self.data_dir)
        self._auth = Authenticator(tokens)
        self.limits = limits or Limits()
        self._server: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalHub is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalHub:
        if self._server is not None:
            raise RuntimeError("LocalHub is already running")
        self._server = _HubHTTPServer((self.host, self.port), self._store, self._auth, self.limits)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="localhub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join()
        self._server = None
        self._thread = None

    def serve_until(self, stop: threading.Event) -> None:
        """Block until `stop` is set, then shut down (used by the command line)."""
        stop.wait()
        self.stop()

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

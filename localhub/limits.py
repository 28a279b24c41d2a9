"""The embedded Hub's limits on requests, paths and connections: one frozen value, passed to `LocalHub`."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Every bound the server enforces, so that no request, however written, costs more than these.

    The defaults follow the Hub where it states one (10 MiB for a file committed inline, 64 MiB for a xorb or a
    shard) and are otherwise generous for a release of millions of rows.
    """

    # A JSON body (repo creation, tags, preupload, the LFS batch API…) and a dataset card sent to validate-yaml.
    json_bytes: int = 1 * MIB
    # A whole commit request; its inline files are spooled to disk one NDJSON line at a time.
    commit_bytes: int = 1024 * MIB
    # One NDJSON line of a commit: a file inlined as base64 (the Hub takes files above 10 MiB through LFS only).
    commit_line_bytes: int = 14 * MIB
    # JSON and YAML nesting, far above what any real card or request uses.
    nesting_depth: int = 64
    # A path in a repo: total bytes, bytes per component, and components.
    path_bytes: int = 4096
    path_component_bytes: int = 255
    path_depth: int = 64
    # Error messages returned to clients.
    message_chars: int = 2000
    # A connection idle (or a body stalled) this long is closed, so it cannot hold a thread forever.
    socket_timeout_seconds: float = 60.0
    # Connections the kernel queues while every handler is busy (the default of 5 stalls concurrent clients).
    listen_backlog: int = 256

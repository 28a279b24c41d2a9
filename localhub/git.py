"""Runs the git CLI against a bare repository and validates ref names before they reach it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

# Keep the user's and the system's git configuration out of the store, and drop inherited GIT_* variables
# (set, for example, when the tests run from a git hook) that would point git at another repository.
_BASE_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_LITERAL_PATHSPECS": "1",
    "LC_ALL": "C",
}

_FORBIDDEN_IN_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


class GitError(RuntimeError):
    """A git command exited with a non-zero status."""

    def __init__(self, args: list[str], returncode: int, stderr: bytes):
        self.returncode = returncode
        self.stderr = stderr.decode("utf-8", "replace").strip()
        super().__init__(f"git {' '.join(args[:2])} failed ({returncode}): {self.stderr}")


def run(git_dir: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    """Run `git <args>` in `git_dir` and return its stdout."""
    full_env = {**_BASE_ENV, "GIT_DIR": str(git_dir), **(env or {})}
    proc = subprocess.run(["git", *args], input=input, capture_output=True, env=full_env, check=False)
    if proc.returncode != 0:
        raise GitError(list(args), proc.returncode, proc.stderr)
    return proc.stdout


def popen(git_dir: Path, *args: str) -> subprocess.Popen:
    """Start `git <args>` with its stdout piped, for streaming large objects."""
    env = {**_BASE_ENV, "GIT_DIR": str(git_dir)}
    return subprocess.Popen(["git", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)


def is_valid_ref_name(name: str) -> bool:
    """Apply the rules of `git check-ref-format` without a subprocess per check.

    Rejecting these names up front also keeps revision syntax (`main~1`, `@{u}`, `-x`) away from rev-parse.
    """
    if not name or name.startswith(("-", "/")) or name.endswith(("/", ".", ".lock")):
        return False
    if ".." in name or "@{" in name or "//" in name or name == "@" or _FORBIDDEN_IN_REF.search(name):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/"))

"""Tests of pipeline/__init__.py: how a stage's process ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "MARKER": str(tmp_path / "handler-ran")})


def test_exit_process_keeps_the_code_the_output_and_the_exit_handlers(tmp_path: Path) -> None:
    code = """
import atexit, os, pathlib, sys
from pipeline import exit_process
atexit.register(lambda: pathlib.Path(os.environ["MARKER"]).write_text("yes"))
print("summary line")  # block-buffered: the output is a pipe
print("error line", file=sys.stderr)
exit_process(3)
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 3
    assert result.stdout == "summary line\n"
    assert result.stderr == "error line\n"
    assert (tmp_path / "handler-ran").read_text() == "yes"


# An object that says when the interpreter's teardown finalises it.
FINALISED_AT_TEARDOWN = """
import sys
class Noisy:
    def __del__(self):
        sys.stderr.write("torn down\\n")
noisy = Noisy()
import pipeline
"""


def test_exit_process_skips_the_teardown(tmp_path: Path) -> None:
    result = run_python(FINALISED_AT_TEARDOWN + "pipeline.exit_process(0)", tmp_path)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_process_that_only_imports_the_package_ends_as_usual(tmp_path: Path) -> None:
    result = run_python(FINALISED_AT_TEARDOWN + "print('out')\nsys.exit(4)", tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (4, "out\n", "torn down\n")


def test_an_uncaught_error_still_shows_its_traceback(tmp_path: Path) -> None:
    result = run_python("import pipeline\nraise RuntimeError('boom')", tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr

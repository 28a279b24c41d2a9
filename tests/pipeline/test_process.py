"""Tests of pipeline/process.py: a stage's process settings, its command line, and how it ends; and that importing the
project's modules changes nothing in the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "MARKER": str(tmp_path / "handler-ran")},
    )


def test_exit_process_keeps_the_code_the_output_and_the_exit_handlers(tmp_path: Path) -> None:
    code = """
import atexit, os, pathlib, sys
from pipeline import process
atexit.register(lambda: pathlib.Path(os.environ["MARKER"]).write_text("yes"))
print("summary line")  # block-buffered: the output is a pipe
print("error line", file=sys.stderr)
process.exit(3)
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
from pipeline import process
"""


def test_exit_process_skips_the_teardown(tmp_path: Path) -> None:
    result = run_python(FINALISED_AT_TEARDOWN + "process.exit(0)", tmp_path)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_process_that_only_imports_the_modules_ends_as_usual(tmp_path: Path) -> None:
    result = run_python(FINALISED_AT_TEARDOWN + "print('out')\nsys.exit(4)", tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (4, "out\n", "torn down\n")


def test_an_uncaught_error_still_shows_its_traceback(tmp_path: Path) -> None:
    result = run_python("import pipeline.ingest\nraise RuntimeError('boom')", tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr


IMPORT_EVERYTHING = """
import atexit, importlib, os, pkgutil, sys
registered_by = []
register = atexit.register
def recording(function, *args, **kwargs):
    registered_by.append(sys._getframe(1).f_globals.get("__name__", "?"))
    return register(function, *args, **kwargs)
atexit.register = recording
before = dict(os.environ)
import localhub, pipeline, schema
for package in (pipeline, schema, localhub):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name != "localhub.__main__":
            importlib.import_module(module.name)
changed = sorted(set(before.items()) ^ set(os.environ.items()))
ours = [name for name in registered_by if name.split(".")[0] in ("pipeline", "schema", "localhub")]
print(changed, ours)
"""


def test_importing_any_project_module_changes_no_setting_and_registers_no_exit_hook(tmp_path: Path) -> None:
    result = run_python(IMPORT_EVERYTHING, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"


def test_a_stage_without_its_paths_says_which_it_needs(tmp_path: Path) -> None:
    result = run_python("from pipeline import ingest\nraise SystemExit(ingest.main([]))", tmp_path)
    assert result.returncode == 2
    assert "--output" in result.stderr and "--rejects" in result.stderr and "--metrics" in result.stderr


def test_a_stage_run_as_a_program_sets_arrow_and_openblas_up_before_they_load(tmp_path: Path) -> None:
    code = """
import runpy, sys
sys.argv = ["ingest"]
try:
    runpy.run_module("pipeline.ingest", run_name="__main__")
except SystemExit:
    pass
import pyarrow as pa
print(pa.default_memory_pool().backend_name)
"""
    result = run_python(code, tmp_path)
    # Arrow's own default here is mimalloc: jemalloc can only come from the stage's prologue.
    assert result.stdout.strip() == "jemalloc" and "--output" in result.stderr
    for allocator in ("jemalloc", "system"):
        code = f"from pipeline import process\nprocess.prologue({allocator!r})\nimport pyarrow as pa\n"
        result = run_python(code + "print(pa.default_memory_pool().backend_name)", tmp_path)
        assert result.stdout.strip() == allocator, result.stderr
    threads = "from pipeline import process\nprocess.prologue()\nimport os\nprint(os.environ['OPENBLAS_NUM_THREADS'])"
    assert run_python(threads, tmp_path).stdout.strip() == "1"
    late = run_python("import pyarrow\nfrom pipeline import process\nprocess.prologue('system')", tmp_path)
    assert late.returncode != 0 and "before pyarrow is imported" in late.stderr


def test_a_stage_keeps_pandas_out(tmp_path: Path) -> None:
    code = """
from pipeline import process
process.without('pandas')
try:
    import pandas
except ImportError:
    print("no pandas")
"""
    assert run_python(code, tmp_path).stdout.strip() == "no pandas"


def test_validate_refuses_scipy_and_its_compiled_loops_still_load(tmp_path: Path) -> None:
    code = """
import sys
from pipeline import process
process.without('pandas', 'scipy')
process.without('scipy')
import pyarrow as pa
from pipeline.alignment.tokens import read
words = read(pa.array(['Model one, twice'], pa.string()), 100).words
print(len(words.keys), 'scipy' in sys.modules, sum(type(f).__name__ == '_Refused' for f in sys.meta_path))
"""
    result = run_python(code, tmp_path)
    assert result.stdout.split() == ["3", "False", "1"], result.stderr

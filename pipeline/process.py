"""A stage's process: its settings (Arrow's allocator, pandas and other unused imports kept out), its command line
(the paths `dvc.yaml` gives it), its one-line outcome, and how it ends. A stage run as a program calls these
(`prologue` first, then `stage_main` and `exit`); importing a project module does none of it."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from schema.params import Params, ParamsError, load_params

P = TypeVar("P")


class _Refused:
    """An import finder that refuses some packages, so that importing one of them raises ImportError."""

    def __init__(self, packages: frozenset[str]) -> None:
        self.packages = packages

    def find_spec(self, name: str, *_: object) -> None:
        package = name.partition(".")[0]
        if package in self.packages:
            raise ImportError(f"{package} is not used by this process")


def without(*packages: str) -> None:
    """Makes `packages` unimportable in this process; its workers, forked from it, inherit that. Each is a large import
    that a library makes only to look for an optional feature, and goes on without when the import fails:

    - pyarrow imports pandas the first time it converts Python or NumPy values, to check whether they are pandas
      objects; stages whose code does not use pandas refuse it.
    - Numba imports SciPy's linear algebra the first time it loads a compiled function, to know whether it could
      compile NumPy's; the loops of validate's misaligned rule use none, so validate refuses SciPy."""
    refused = {finder.packages for finder in sys.meta_path if isinstance(finder, _Refused)}
    wanted = frozenset(package for package in packages if package not in sys.modules) - set().union(*refused)
    if wanted:
        sys.meta_path.insert(0, _Refused(wanted))  # type: ignore[arg-type]


def prologue(allocator: str = "jemalloc") -> None:
    """What a stage run as a program does before it imports anything else: it makes `allocator` ("jemalloc",
    "mimalloc" or "system") Arrow's allocator, and keeps NumPy's OpenBLAS to one thread, in its process, in the workers
    forked from it and in any Python process it starts. Arrow's C++ code reads the choice once, when pyarrow is first
    imported, so it cannot come later; jemalloc hands freed memory back sooner than Arrow's default, so most stages
    peak lower with it (the README's performance section has the figures)."""
    if "pyarrow" in sys.modules:
        raise RuntimeError("process.prologue must run before pyarrow is imported: call it first in the stage module")
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = allocator
    # NumPy's OpenBLAS starts a thread per core when it is imported, which spins for a while; no stage does the linear
    # algebra it is for.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def paths_parser(stage: str, paths: type[P], description: str, required: bool = True) -> argparse.ArgumentParser:
    """A command line with one `--<field>` per field of the stage's paths dataclass."""
    parser = argparse.ArgumentParser(prog=f"python -m pipeline.{stage}", description=description)
    for field in dataclasses.fields(paths):  # type: ignore[arg-type]
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=Path, required=required)
    return parser


def paths_from(paths: type[P], args: argparse.Namespace) -> P:
    return paths(**{field.name: getattr(args, field.name) for field in dataclasses.fields(paths)})  # type: ignore


def outcome(stage: str, run: Callable[[Params], str]) -> int:
    """Runs a stage with the params of `params.yaml`: prints its summary, or for an expected failure one message
    and exit code 1, with no traceback."""
    from pipeline.io import StageError

    try:
        summary = run(load_params())
    except (StageError, ParamsError) as exc:
        print(f"{stage}: error: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0


def stage_main(
    stage: str,
    run: Callable[[Params, P], str],
    paths: type[P],
    description: str,
    argv: Sequence[str] | None = None,
    *,
    refused: tuple[str, ...] = ("pandas",),
) -> int:
    """The whole `main()` of a stage that reads and writes only the paths it is given, which refuses the imports of
    `refused` (`without`)."""
    without(*refused)
    if run.__module__ == "__main__":
        # Run as a program, the stage's module is `__main__`, which a Dask worker cannot import: the functions it hands
        # to the workers must come from the module under its own name, so that they are sent by name, not by value.
        run = getattr(importlib.import_module(f"pipeline.{stage}"), run.__name__)
    given = paths_from(paths, paths_parser(stage, paths, description).parse_args(argv))
    return outcome(stage, lambda params: run(params, given))


def exit(code: int) -> NoReturn:
    """Ends a stage's process with `code`: the exit handlers run as usual, then the process ends without the
    interpreter's teardown, which frees Arrow, pandas and `datasets` object by object and module by module (a
    noticeable share of a short stage). Every file a stage writes is closed before its `main` returns."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)

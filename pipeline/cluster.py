"""The Dask engine: a client of the scheduler at `engine.address`, or of a LocalCluster started on this machine for the
run, and the cluster's `concurrent.futures`-compatible executor that the stages' per-part work is submitted to.

`distributed` does the scheduling: a task whose worker dies is run again on another worker (the scheduler's
`distributed.scheduler.allowed-failures`), and a task that raises is retried `TASK_RETRIES` times, which rides out a
storage hiccup. Every task writes its parts whole or not at all (`pipeline.scratch`), so a retry changes no byte.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import dask
from distributed import Client, LocalCluster
from distributed.scheduler import KilledWorker

from pipeline.io import StageError
from schema.params import EngineParams

# A scheduler that is up answers within milliseconds, even across a data centre; waiting longer only delays the
# message that says it is not there.
CONNECT_TIMEOUT_S = 5
# How long a run waits for `engine.workers` workers to join a scheduler elsewhere (a batch system may take a while to
# start them).
JOIN_TIMEOUT_S = 120
TASK_RETRIES = 2


@dataclass(frozen=True)
class Cluster:
    """A connected client's executor, and how many tasks the cluster runs at once."""

    executor: Executor
    slots: int


def unreachable(address: str, reason: object) -> StageError:
    return StageError(
        f"cannot reach the Dask scheduler at {address} ({reason}): start one there (`dask scheduler`, then "
        f"`dask worker {address}` on each machine), set engine.address in params.yaml to a running scheduler or to "
        "'local' (a cluster on this machine for the run), or set engine.kind to 'local'"
    )


def local_cluster(workers: int) -> LocalCluster:
    """A LocalCluster of `workers` processes of one thread each; it and its dashboards listen on the loopback
    interface only."""
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )


@contextmanager
def connected(engine: EngineParams, local_workers: int) -> Iterator[Cluster]:
    """A client of the cluster `engine` names, for the block; a LocalCluster has `local_workers` processes of one
    thread each, and it and its dashboards listen on the loopback interface only."""
    with ExitStack() as stack:
        if engine.address == "local":
            # Its workers are forked from the stage, as the local engine's are, so that they start with its modules
            # loaded and its settings in place, rather than spawned to import everything again; and they do not
            # sample their own stacks for the dashboard's profile, which cost some CPU in every task.
            stack.enter_context(
                dask.config.set(
                    {"distributed.worker.multiprocessing-method": "fork", "distributed.worker.profile.enabled": False}
                )
            )
            cluster = stack.enter_context(local_cluster(local_workers))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(engine.address, timeout=f"{CONNECT_TIMEOUT_S}s"))
            except (OSError, TimeoutError) as exc:
                raise unreachable(engine.address, exc) from None
            try:
                client.wait_for_workers(max(1, engine.workers), timeout=JOIN_TIMEOUT_S)
            except TimeoutError:
                joined = len(client.scheduler_info()["workers"])
                raise StageError(
                    f"the Dask scheduler at {engine.address} has {joined} workers, {max(1, engine.workers)} wanted "
                    f"(engine.workers) after {JOIN_TIMEOUT_S} s: start `dask worker {engine.address}` on more "
                    "machines, or lower engine.workers"
                ) from None
        yield Cluster(client.get_executor(pure=False, retries=TASK_RETRIES), sum(client.nthreads().values()))


def failure(exc: BaseException) -> StageError | None:
    """The message for a task failure that is the cluster's, not the data's: a task that killed every worker it ran
    on, or a worker that cannot reach a file the stage named."""
    if isinstance(exc, KilledWorker):
        return StageError(
            f"a task was running on {exc.last_worker.address if exc.last_worker else 'a worker'} each time a worker "
            "died, too many times in a row: look at the workers' logs (out of memory?)"
        )
    if isinstance(exc, FileNotFoundError):
        return StageError(
            f"a Dask worker cannot find {exc.filename}: the project folder and engine.scratch must be on storage "
            "that every worker mounts at the same path (README, running on a cluster)"
        )
    return None

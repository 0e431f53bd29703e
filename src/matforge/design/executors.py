"""Where oracle calls run: serially (default), as one batch, in a local process pool, or on
a Ray cluster.

Every executor takes (key, candidate) jobs and yields (key, Result) as each call finishes, so
the campaign can store each result the moment it exists. Serial, process and Ray make one
call per candidate: a slow or failing candidate holds up only itself. "batch" hands the whole
step to the oracle in one call, which is what a batched relaxation needs (one model call per
optimiser step for all structures, worker processes over chunks, competing phases of every
chemical system built together); a step cut off mid-way is run again on resume.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.oracles.base import Oracle, Result

Job = tuple[Hashable, Candidate]


def _call(oracle: Oracle, cand: Candidate) -> Result:
    start = time.perf_counter()
    try:
        results = oracle.evaluate([cand])
        if len(results) != 1:
            raise RuntimeError(f"oracle returned {len(results)} results for one candidate")
        return results[0]
    except Exception as exc:  # noqa: BLE001 - a broken oracle call fails one candidate
        return Result.failed(cand, f"{type(exc).__name__}: {exc}", time.perf_counter() - start)


class SerialExecutor:
    name = "serial"

    def __init__(self, oracle: Oracle):
        self.oracle = oracle

    def run(self, jobs: list[Job], on_start: Any = None) -> Iterator[tuple[Hashable, Result]]:
        for key, cand in jobs:
            if on_start:
                on_start(key)
            yield key, _call(self.oracle, cand)

    def close(self) -> None:
        pass


class BatchExecutor:
    """The whole batch in one oracle call; results are yielded once it returns."""

    name = "batch"

    def __init__(self, oracle: Oracle):
        self.oracle = oracle

    def run(self, jobs: list[Job], on_start: Any = None) -> Iterator[tuple[Hashable, Result]]:
        if not jobs:
            return
        for key, _ in jobs:
            if on_start:
                on_start(key)
        start = time.perf_counter()
        try:
            results = self.oracle.evaluate([cand for _, cand in jobs])
            if len(results) != len(jobs):
                raise RuntimeError(f"oracle returned {len(results)} results for {len(jobs)}")
        except Exception as exc:  # noqa: BLE001 - a broken oracle call fails its batch only
            per = (time.perf_counter() - start) / len(jobs)
            results = [Result.failed(cand, f"{type(exc).__name__}: {exc}", per)
                       for _, cand in jobs]
        yield from zip((key for key, _ in jobs), results)

    def close(self) -> None:
        pass


_WORKER_ORACLE: Oracle | None = None


def _init_worker(oracle: Oracle) -> None:
    global _WORKER_ORACLE
    _WORKER_ORACLE = oracle


def _worker_call(cand: Candidate) -> Result:
    assert _WORKER_ORACLE is not None
    return _call(_WORKER_ORACLE, cand)


class ProcessExecutor:
    """A local process pool; the oracle is sent to each worker once."""

    name = "process"

    def __init__(self, oracle: Oracle, workers: int = 2):
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                        initargs=(oracle,))

    def run(self, jobs: list[Job], on_start: Any = None) -> Iterator[tuple[Hashable, Result]]:
        futures = {}
        for key, cand in jobs:
            if on_start:
                on_start(key)
            futures[self.pool.submit(_worker_call, cand)] = key
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield futures[fut], fut.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Oracle calls as Ray tasks: a local cluster of `workers` CPUs, or `address`."""

    name = "ray"

    def __init__(self, oracle: Oracle, workers: int = 2, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise MatforgeError("--executor ray needs Ray: pip install 'matforge[scale]'") \
                from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                                      "include_dashboard": False}
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = workers
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001 - connection problems are user errors
                raise MatforgeError(f"could not start or reach Ray ({address or 'local'}): "
                                    f"{exc}") from None
            self.started = True
        self.oracle_ref = ray.put(oracle)
        self.remote_call = ray.remote(num_cpus=1, max_retries=0)(_call)

    def run(self, jobs: list[Job], on_start: Any = None) -> Iterator[tuple[Hashable, Result]]:
        refs = {}
        for key, cand in jobs:
            if on_start:
                on_start(key)
            refs[self.remote_call.remote(self.oracle_ref, cand)] = key
        pending = list(refs)
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            for ref in done:
                yield refs[ref], self.ray.get(ref)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def make_executor(kind: str, oracle: Oracle, workers: int = 2, address: str | None = None):
    if kind == "serial":
        return SerialExecutor(oracle)
    if kind == "batch":
        return BatchExecutor(oracle)
    if kind == "process":
        return ProcessExecutor(oracle, workers)
    if kind == "ray":
        return RayExecutor(oracle, workers, address)
    raise MatforgeError(f"unknown executor {kind!r} (use serial, batch, process or ray)")

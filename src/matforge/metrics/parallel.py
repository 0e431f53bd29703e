"""A process pool over the machine's cores with a progress bar, shared by the slow metrics."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """MATFORGE_N_JOBS if set, else the number of cores this process may use."""
    env = os.environ.get("MATFORGE_N_JOBS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _quiet_call(fn_and_chunk: tuple[Callable[[T], R], Sequence[T]]) -> list[R]:
    fn, chunk = fn_and_chunk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [fn(x) for x in chunk]


def pmap(fn: Callable[[T], R], items: Iterable[T], n_jobs: int | None = None,
         desc: str = "", chunksize: int = 8, progress: bool = True) -> list[R]:
    """`[fn(x) for x in items]`, in a process pool when n_jobs > 1 and the work is big enough.

    `fn` must be a module-level function (it is pickled to the workers).
    """
    items = list(items)
    n_jobs = default_jobs() if n_jobs is None else max(1, n_jobs)
    chunks = [items[i:i + chunksize] for i in range(0, len(items), chunksize)]
    bar = tqdm(total=len(items), desc=desc, disable=not progress or not items, leave=False)
    out: list[R] = []
    try:
        if n_jobs == 1 or len(chunks) < 2:
            for chunk in chunks:
                out.extend(_quiet_call((fn, chunk)))
                bar.update(len(chunk))
        else:
            with ProcessPoolExecutor(max_workers=min(n_jobs, len(chunks))) as pool:
                for res in pool.map(_quiet_call, [(fn, c) for c in chunks]):
                    out.extend(res)
                    bar.update(len(res))
    finally:
        bar.close()
    return out

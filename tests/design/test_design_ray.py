"""Executors: process pool and Ray spread 1-second oracle calls over two workers."""

import time

import pytest

from matforge.candidate import Candidate
from matforge.design.executors import ProcessExecutor, SerialExecutor, make_executor
from matforge.oracles.lookup import LookupOracle

FORMULAS = ["NaCl", "KCl", "LiF", "MgO", "CaO", "SrO", "BaO", "ZnS"]


def _oracle(delay: float) -> LookupOracle:
    import pandas as pd

    table = pd.DataFrame({"formula": FORMULAS, "y": range(len(FORMULAS))})
    return LookupOracle(table, delay=delay)


def _throughput(executor, n: int) -> tuple[float, dict]:
    jobs = [(i, Candidate(FORMULAS[i % len(FORMULAS)])) for i in range(n)]
    start = time.perf_counter()
    results = dict(executor.run(jobs))
    return n / (time.perf_counter() - start), results


def test_process_pool_matches_serial():
    serial = SerialExecutor(_oracle(0.0))
    pool = ProcessExecutor(_oracle(0.0), workers=2)
    try:
        _, a = _throughput(serial, 8)
        _, b = _throughput(pool, 8)
    finally:
        pool.close()
    assert {k: r.values for k, r in a.items()} == {k: r.values for k, r in b.items()}


def test_ray_two_workers_scale_a_one_second_oracle():
    pytest.importorskip("ray")
    serial_rate, _ = _throughput(SerialExecutor(_oracle(1.0)), 4)
    executor = make_executor("ray", _oracle(1.0), workers=2)
    try:
        _throughput(executor, 2)  # start the two Ray workers before timing
        ray_rate, results = _throughput(executor, 12)
    finally:
        executor.close()
    assert all(r.ok for r in results.values())
    assert [results[i].values["y"] for i in range(12)] == [i % 8 for i in range(12)]
    assert ray_rate >= 1.8 * serial_rate, (ray_rate, serial_rate)

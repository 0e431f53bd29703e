"""A campaign killed with SIGKILL at random moments resumes to the uninterrupted result."""

import json
import multiprocessing as mp
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pandas as pd

from matforge.design.campaign import run_campaign
from matforge.design.spec import load_spec, spec_from_dict


def _child(spec_json: str, out: str) -> None:
    spec = spec_from_dict(json.loads(spec_json))
    resume = (Path(out) / "campaign.sqlite").exists()
    run_campaign(spec, out, resume=resume, progress=False)
    os._exit(0)


def _finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM evaluations WHERE status IN "
                               "('ok', 'failed')").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _evaluations(out: Path) -> pd.DataFrame:
    con = sqlite3.connect(out / "campaign.sqlite")
    try:
        return pd.read_sql('SELECT step, idx, formula, status, "values", attempts '
                           "FROM evaluations ORDER BY step, idx", con)
    finally:
        con.close()


def test_kill9_at_random_moments_then_resume(tmp_path, pool_tables):
    pool, table = pool_tables
    spec = load_spec(None, objectives=["log10_PF_p:max"], oracle=f"lookup:{table}",
                     pool=str(pool), strategy="genetic", budget=120, batch_size=4, seed=11)
    spec.oracle.options = {"delay": 0.03}  # a short oracle call to be killed in the middle of
    reference = run_campaign(spec, tmp_path / "reference", progress=False)
    ref = pd.read_csv(reference["evaluations_csv"])

    ctx = mp.get_context("fork")
    rng = random.Random(2024)
    out = tmp_path / "killed"
    db = out / "campaign.sqlite"
    kills, rounds = 0, 0
    while True:
        rounds += 1
        assert rounds < 200, "the campaign never finished"
        before = _finished(db)
        proc = ctx.Process(target=_child, args=(spec.model_dump_json(), str(out)))
        proc.start()
        if kills < 22:
            # wait for fresh progress, then kill -9 at a random moment shortly after
            deadline = time.monotonic() + 60
            while proc.is_alive() and _finished(db) <= before and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.12))
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
                assert proc.exitcode == -signal.SIGKILL
                kills += 1
                continue
        proc.join(timeout=300)
        assert proc.exitcode == 0
        break
    assert kills >= 20
    got = _evaluations(out)
    want = _evaluations(tmp_path / "reference")
    cols = ["step", "idx", "formula", "status", "values"]
    assert got[cols].equals(want[cols])  # same final set, same order, same values
    assert (got["status"] == "ok").all()
    # a call is repeated only when a kill cut it off before its result was stored
    assert got["attempts"].sum() - len(got) <= kills
    done = pd.read_csv(out / "evaluations.csv")
    assert done[["step", "formula"]].equals(ref[["step", "formula"]])

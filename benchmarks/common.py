"""Shared helpers for benchmark scripts: where results go and how, and Matbench's folds."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"


def _jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays and NaN into plain JSON values (NaN -> null)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


PACKAGES = ("matforge", "torch", "numpy", "scipy", "pandas", "scikit-learn", "pymatgen",
            "smact", "chgnet", "sevenn", "ase", "pyxtal", "botorch", "matminer", "phonopy")


def provenance(load_at_start: tuple[float, float, float] | None = None) -> dict:
    """What a reader needs to regenerate a result: commit, package versions, machine, load and
    the command line."""
    import os
    import platform
    import subprocess
    import sys
    from importlib.metadata import PackageNotFoundError, version

    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True,
                                  cwd=Path(__file__).parent).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return {"git_commit": run("git", "rev-parse", "HEAD"),
            "git_dirty": bool(run("git", "status", "--porcelain", "--untracked-files=no")),
            "packages": versions, "python": platform.python_version(),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "load_average_at_start": list(load_at_start) if load_at_start else None,
            "load_average_at_end": list(os.getloadavg()),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}


def provenance_footer(payload: dict) -> str:
    """One markdown line with the load averages and commit a result was measured at."""
    prov = payload.get("provenance", {})

    def load(key: str) -> str:
        values = prov.get(key)
        return "-" if not values else " ".join(f"{v:.2f}" for v in values)

    return (f"Load average at start / end: {load('load_average_at_start')} / "
            f"{load('load_average_at_end')}; commit {str(prov.get('git_commit', ''))[:10]}"
            f"{' (uncommitted changes)' if prov.get('git_dirty') else ''}.")


def search_label(method: str, options: dict) -> str:
    """A structure-search row's label with the settings that change its answers, so rows
    with different settings never share a label."""
    from matforge.generators.crystal.search import TEMPLATE_VOTE, VOTES

    votes = tuple(options.get("votes") or VOTES)
    if options.get("n_diffusion") == 0:
        votes = tuple(v for v in votes if v == TEMPLATE_VOTE)
    proposed = " as proposed" if options.get("vote_as_proposed") else ""
    settings = ([f"{', else '.join(votes)}{proposed} within {options['vote_window']:g} eV/atom"]
                if options.get("vote_window") and votes else []) + \
        (["then the diffusion samples as proposed"]
         if options.get("samples_as_proposed") else []) + \
        ([f"{options['pressure']:g} GPa"] if options.get("pressure") else []) + \
        (["symmetry kept"] if options.get("keep_symmetry") else []) + \
        (["no diffusion"] if options.get("n_diffusion") == 0 else [])
    return method + (f" ({', '.join(settings)})" if settings else "")


def first_outcomes(result: dict) -> list[int]:
    """One method's outcome per cell at one sample, 1/0 in cell order (csp.py's
    `matched_first`, csp_any.py's `per_target`); empty when the result kept none."""
    if result.get("matched_first"):
        return result["matched_first"]
    return [int(t["hit_1"]) for t in result.get("per_target", [])]


def paired_at_one(results: dict) -> list[dict]:
    """McNemar's exact test at one sample for every pair of methods whose per-cell outcomes
    cover the same cells: only the cells one method matched and the other missed say which
    is better."""
    scored = {m: hits for m, r in results.items() if (hits := first_outcomes(r))}
    names = list(scored)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs = list(zip(scored[a], scored[b]))
            only_a = sum(x > y for x, y in pairs)
            only_b = sum(y > x for x, y in pairs)
            rows.append({"a": a, "b": b, "cells": len(pairs), "only_a": only_a,
                         "only_b": only_b, "points": 100 * (only_a - only_b) / len(pairs),
                         "p": sign_test(only_a, only_b)})
    return rows


def sign_test(k1: int, k2: int) -> float:
    """Two-sided exact p-value of k1 against k2 successes under a fair coin."""
    n = k1 + k2
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k1, k2) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def write_results(name: str, payload: dict, markdown: str | Callable[[dict], str],
                  load_at_start: tuple[float, float, float] | None = None) -> None:
    """Write benchmarks/results/<name>.{json,md}, so every benchmark reports the same way.

    The JSON carries `provenance` (commit, versions, machine, load, command); a callable
    `markdown` renders the .md from the JSON as written, so the table can be regenerated
    from the file alone."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = _jsonable({**payload, "provenance": provenance(load_at_start)})
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    if callable(markdown):
        markdown = markdown(payload)
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    (RESULTS_DIR / f"{name}.md").write_text(text)


def matbench_folds(frame: Any) -> list:
    """Matbench's 5 (train, test) index pairs: `KFold(5, shuffle=True,
    random_state=18012019)`, its documented procedure."""
    from sklearn.model_selection import KFold

    return list(KFold(5, shuffle=True, random_state=18012019).split(frame))


def matbench_cv(frame: Any, seed: int, run_fold: Any, keys: tuple[str, ...]) -> dict:
    """Matbench's 5 folds (`KFold(5, shuffle=True, random_state=18012019)`, its documented
    procedure); within each training fold a seeded 10% is held out for calibration.
    `run_fold(train, cal, test)` scores one fold (a dict with `n` and `keys`); returns the means
    over folds of `keys`, the MAE spread over folds, the test size and the folds."""
    import numpy as np

    folds = []
    for k, (tr, te) in enumerate(matbench_folds(frame)):
        tr = np.random.default_rng(seed + k).permutation(tr)
        n_cal = len(tr) // 10
        folds.append(run_fold(frame.iloc[tr[n_cal:]], frame.iloc[tr[:n_cal]], frame.iloc[te]))
    out = {k: float(np.mean([f[k] for f in folds])) for k in keys}
    out["mae_std_over_folds"] = float(np.std([f["mae"] for f in folds]))
    out["n"] = int(sum(f["n"] for f in folds))
    out["folds"] = folds
    return out

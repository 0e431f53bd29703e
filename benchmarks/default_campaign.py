"""The default campaign as a user runs it, timed, and checked the way an expert would.

Runs `matforge design --out DIR --seed SEED` in a fresh process (wall time includes start-up
and the model loads), then checks every ranked candidate independently of matforge's own
filters: SMACT 4's `smact_validity` with its default oxidation states and alloys counted
invalid, novelty against every composition matforge knows, no noble gases or radioactive
elements, a relaxed structure that makes physical sense, an energy above the hull. Writes
benchmarks/results/NAME.{json,md} with the run's summary.json.

    MATFORGE_DATA_DIR=../shared/data python benchmarks/default_campaign.py --seed 0

`--cache DIR` sets MATFORGE_CACHE_DIR for the run (default: a fresh folder, so the run starts
from the shipped hull reference as on a new machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS_DIR, provenance_footer, write_results

TARGETS = {"minutes": 10, "candidates": 50, "sun_rate": 0.5}


def independent_check(folder: Path) -> dict:
    import pandas as pd
    from pymatgen.core import Composition, Structure
    from smact.screening import smact_validity

    from matforge.chem.elements import DEFAULT_EXCLUDED
    from matforge.chem.geometry import structure_problem
    from matforge.data.known import known_compositions

    frame = pd.read_csv(folder / "candidates.csv", keep_default_na=False)
    known = known_compositions()
    bad: dict[str, list[str]] = {"smact_invalid": [], "known": [], "excluded_elements": [],
                                 "unphysical": [], "no_e_above_hull": []}
    for _, row in frame.iterrows():
        f = row["formula"]
        if not smact_validity(f, include_alloys=False):
            bad["smact_invalid"].append(f)
        if f in known:
            bad["known"].append(f)
        if {str(e) for e in Composition(f).elements} & set(DEFAULT_EXCLUDED):
            bad["excluded_elements"].append(f)
        if structure_problem(Structure.from_str(row["cif"], fmt="cif")):
            bad["unphysical"].append(f)
        if row["e_above_hull"] in ("", None):
            bad["no_e_above_hull"].append(f)
    return {"n": len(frame), "failures": bad, "novelty_reference": known.describe()}


def run(args: argparse.Namespace) -> dict:
    out = Path(tempfile.mkdtemp(prefix="matforge-default-")) / "run"
    env = dict(os.environ)
    env["MATFORGE_CACHE_DIR"] = args.cache or tempfile.mkdtemp(prefix="matforge-cache-")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "matforge.cli", "design", "--out", str(out),
                           "--seed", str(args.seed)], env=env, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"matforge design failed:\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {"seed": args.seed, "seconds": round(seconds, 1), "summary": summary,
            "stability": summary.get("stability"), "check": independent_check(out),
            "log": proc.stdout.splitlines()[-12:], "out": str(out), "targets": TARGETS}


def markdown(p: dict) -> str:
    s, st, chk = p["summary"], p["stability"] or {}, p["check"]
    sur = (s.get("preset") or {}).get("surrogate", {})
    fails = ", ".join(f"{k} {len(v)}" for k, v in chk["failures"].items())
    rows = [("wall time (fresh process, cold start)", f"{p['seconds'] / 60:.1f} min",
             f"<= {TARGETS['minutes']} min"),
            ("ranked candidates", (f"{s['ranked']} (of {s['ok']} evaluated successfully, "
             f"{s['evaluations']} sent to CHGNet)"), f">= {TARGETS['candidates']}"),
            ("independent check failures", fails, "0 each"),
            ("on or below the hull / within 0.1 eV/atom", (f"{st.get('stable')} / "
             f"{st.get('metastable')}"), ""),
            ("S.U.N. rate of the ranked list", f"{st.get('sun_rate', 0):.1%}",
             f">= {TARGETS['sun_rate']:.0%}"),
            ("S.U.N. rate of every evaluation",
             f"{(s.get('stability_all_evaluated') or {}).get('sun_rate', 0):.1%}", ""),
            ("surrogate test MAE (log10 PF) / 68% / 95% coverage",
             (f"{sur.get('test_mae', float('nan')):.3f} / {sur.get('test_coverage_68', 0):.3f}"
             f" / {sur.get('test_coverage_95', 0):.3f}"), "")]
    syn = s.get("synthesizability")
    if syn:
        rows.append(("likely synthesizable (shipped PU model, at its threshold) / median score",
                     f"{syn['likely_synthesizable']} of {s['ranked']} / {syn['median']:.3f}", ""))
    lines = [f"# The default campaign (`matforge design --seed {p['seed']}`)", "",
             f"Novelty reference: {chk['novelty_reference']}.", "",
             f"Hull: {s.get('hull_source', '')}; potential {s.get('potential', '')}.", "",
             "| figure | measured | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if s.get("stopped"):
        lines += ["", f"Stopped early: {s['stopped']}."]
    lines += ["", provenance_footer(p)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None)
    parser.add_argument("--name", default="default_campaign")
    args = parser.parse_args()
    load = os.getloadavg()
    write_results(args.name, run(args), markdown, load_at_start=load)
    print((RESULTS_DIR / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()

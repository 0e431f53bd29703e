"""The competing-phase reference matforge ships, and the command that builds it.

Building the offline hull of a new chemical system means relaxing every known composition
in it (a minute or two for a ternary on two cores). So that the default campaign runs in
minutes, matforge ships the phases its own code computed once for the chemical systems the
default campaign explores, under `matforge/assets/hull_reference/`: one CSV per scheme
(potential weights, correction, phase recipe) and a card saying how it was made. The first
auto hull of that scheme copies it into the SQLite cache; systems outside it are built cold.

    python -m matforge.oracles.hull_reference --formulas FILE.csv [--formulas ...] \\
        --out src/matforge/assets/hull_reference

FILE.csv has a `formula` column; every known composition of each formula's chemical system
(and subsystems) gets its phase. The build resumes from the cache if interrupted.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
import time
from importlib import resources
from pathlib import Path

import pandas as pd

from matforge.oracles.hull_cache import FailedPhase, HullCache, Phase

FOLDER = "hull_reference"


def _slug(scheme: str) -> str:
    return scheme.split("|")[0]  # "chgnet-0.3.0"


def reference_files(scheme: str, folder: Path | None = None) -> tuple[Path, Path]:
    root = folder or Path(str(resources.files("matforge") / "assets" / FOLDER))
    return root / f"{_slug(scheme)}.csv.gz", root / f"{_slug(scheme)}.json"


def read_reference(csv_path: Path) -> list[Phase | FailedPhase]:
    frame = pd.read_csv(csv_path, keep_default_na=False, na_values=[""])
    out: list[Phase | FailedPhase] = []
    for row in frame.itertuples(index=False):
        if row.status == "ok":
            out.append(Phase(row.formula, float(row.energy_per_atom),
                             float(row.corrected_energy_per_atom), str(row.source)))
        else:
            out.append(FailedPhase(row.formula, str(row.reason)))
    return out


def import_shipped_reference(cache: HullCache) -> bool:
    """Copy the shipped phases of the cache's scheme into it, once per file content."""
    csv_path, card_path = reference_files(cache.scheme)
    if not (csv_path.is_file() and card_path.is_file()):
        return False
    if json.loads(card_path.read_text()).get("scheme") != cache.scheme:
        return False  # computed with other weights, correction or recipe
    tag = "shipped " + hashlib.sha256(csv_path.read_bytes()).hexdigest()[:16]
    return cache.import_once(tag, read_reference(csv_path))


def write_reference(results: list[Phase | FailedPhase], scheme: str, out: Path,
                    card: dict) -> tuple[Path, Path]:
    """The CSV (no structures: size) and the card; gzip without a timestamp, so the same
    phases give the same bytes."""
    rows = [{"formula": r.formula, "status": "ok", "energy_per_atom": r.energy_per_atom,
             "corrected_energy_per_atom": r.corrected_energy_per_atom, "source": r.source,
             "reason": ""} if isinstance(r, Phase) else
            {"formula": r.formula, "status": "failed", "reason": r.reason}
            for r in sorted(results, key=lambda r: r.formula)]
    csv_path, card_path = reference_files(scheme, out)
    out.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    pd.DataFrame(rows, columns=["formula", "status", "energy_per_atom",
                                "corrected_energy_per_atom", "source", "reason"]
                 ).to_csv(text, index=False, float_format="%.6f")
    with open(csv_path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(text.getvalue().encode())
    card_path.write_text(json.dumps({"scheme": scheme, **card}, indent=1) + "\n")
    return csv_path, card_path


def main(argv: list[str] | None = None) -> int:
    from matforge.data.known import chemical_system, known_compositions
    from matforge.generators.crystal.library import default_library
    from matforge.oracles.hull_sources import AutoPhases, ensure_phases

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formulas", action="append", required=True,
                        help="CSV with a formula column (repeatable)")
    parser.add_argument("--out", required=True, help="folder for the CSV and its card")
    parser.add_argument("--model", default="chgnet")
    parser.add_argument("--chunk", type=int, default=64, help="compositions built per batch")
    args = parser.parse_args(argv)
    known = known_compositions()
    systems = set()
    for path in args.formulas:
        for f in pd.read_csv(path)["formula"].astype(str):
            systems.add(frozenset(chemical_system(f).split("-")))
    formulas = sorted({f for s in systems for f in known.in_system(s)})
    auto = AutoPhases(model=args.model, known=known, progress=False)
    start = time.perf_counter()
    for k in range(0, len(formulas), args.chunk):
        ensure_phases(auto.cache, auto.builder, formulas[k:k + args.chunk])
        print(f"{min(k + args.chunk, len(formulas))}/{len(formulas)} compositions, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    results = list(auto.cache.lookup(formulas).values())
    b = auto.builder
    card = {"potential": auto.scheme.split("|")[0], "systems": len(systems),
            "compositions": len(formulas),
            "phases": sum(isinstance(r, Phase) for r in results),
            "failed": sum(isinstance(r, FailedPhase) for r in results),
            "known_compositions": known.describe(),
            "structure_library": list(default_library().sources),
            "builder": {"n_templates": b.n_templates, "assignments": b.assignments,
                        "n_relax": b.n_relax, "n_random": b.n_random, "fmax": b.fmax,
                        "steps": b.steps, "max_atoms": b.max_atoms},
            "command": "python -m matforge.oracles.hull_reference " + " ".join(
                argv if argv is not None else sys.argv[1:]),
            "seconds_this_run": round(time.perf_counter() - start, 1),
            "build_wall_seconds": auto.cache.time_span(formulas)}
    csv_path, card_path = write_reference(results, auto.scheme, Path(args.out), card)
    print(f"wrote {csv_path} ({card['phases']} phases, {card['failed']} failed) and {card_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

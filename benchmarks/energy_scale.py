"""Is a potential's energy already on the MP2020 scale? Formation energies of simple compounds,
as predicted and with MaterialsProject2020Compatibility applied on top, against experiment.

Structures: matbench_phonons MP structures where the set has the compound, otherwise a
prototype with the element swapped (corundum Fe2O3/Cr2O3 from Al2O3, rock salt MnO/NiO from
BaO), relaxed with the potential (fmax 0.05). Formation energies are against the potential's
own elemental references. Experimental standard enthalpies of formation (kJ/mol, NIST-JANAF /
CRC Handbook) are converted to eV per atom.

    MATFORGE_DATA_DIR=../shared/data python benchmarks/energy_scale.py [--model sevennet]
"""

from __future__ import annotations

import os
import warnings

from common import RESULTS_DIR, write_results

warnings.filterwarnings("ignore")

# formula -> standard enthalpy of formation, kJ/mol (per formula unit)
EXPERIMENT = {"Fe2O3": -824.2, "Cr2O3": -1139.7, "MnO": -385.2, "NiO": -239.7,
              "Li2O": -597.9, "ZnO": -350.5, "KCl": -436.7, "CaF2": -1228.0, "GaN": -110.2,
              "BaO": -548.0, "Al2O3": -1675.7, "ZnS": -206.0}
SWAPS = {"Fe2O3": ("Al2O3", {"Al": "Fe"}, 1.15), "Cr2O3": ("Al2O3", {"Al": "Cr"}, 1.15),
         "MnO": ("BaO", {"Ba": "Mn"}, 0.55), "NiO": ("BaO", {"Ba": "Ni"}, 0.45)}
KJ_PER_MOL_PER_EV = 96.485


def structures() -> dict:
    from pymatgen.core import Structure

    from matforge.data import load_dataset

    phonons = load_dataset("matbench-phonons")
    known = {f: Structure.from_str(c, fmt="cif")
             for f, c in zip(phonons["formula"], phonons["cif"]) if f in EXPERIMENT}
    out = {f: s for f, s in known.items() if f not in SWAPS}
    for formula, (base, swap, volume) in SWAPS.items():
        s = known[base].copy()
        s.replace_species(swap)
        s.scale_lattice(s.volume * volume)
        out[formula] = s
    return dict(sorted(out.items()))


def run(model: str) -> dict:
    from pymatgen.core import Composition

    from matforge.oracles.compatibility import corrected_energy_per_atom
    from matforge.oracles.potentials import PotentialInfo, potential_info
    from matforge.oracles.references import ElementalReferences, formation_energy_per_atom
    from matforge.oracles.relax import relax_structures

    items = structures()
    relaxed = relax_structures(list(items.values()), fmax=0.05, steps=400, model=model,
                               progress=False)
    refs = ElementalReferences.default(model)
    info = potential_info(model)
    raw_scale = PotentialInfo(info.name, info.model, info.package, "raw")
    rows = []
    for formula, res in zip(items, relaxed):
        comp = Composition(formula)
        predicted = formation_energy_per_atom(comp, res.energy_per_atom, refs)
        again = formation_energy_per_atom(
            comp, corrected_energy_per_atom(res.structure, res.energy_per_atom, raw_scale), refs)
        rows.append({"formula": formula, "converged": res.converged,
                     "as_predicted": predicted, "mp2020_applied_again": again,
                     "experiment": EXPERIMENT[formula] / KJ_PER_MOL_PER_EV / comp.num_atoms})
    err = [abs(r["as_predicted"] - r["experiment"]) for r in rows]
    err_again = [abs(r["mp2020_applied_again"] - r["experiment"]) for r in rows]
    return {"rows": rows, "mae_as_predicted": sum(err) / len(err),
            "mae_mp2020_applied_again": sum(err_again) / len(err_again),
            "potential": info.identity}


def markdown(payload: dict) -> str:
    lines = ["# Energy scale of a potential: formation energies against experiment", "",
             (f"{payload['potential']}; formation energies (eV/atom) against its own "
             "elemental references, relaxed structures (fmax 0.05 eV/A)."), "",
             "| compound | as predicted | MP2020 applied on top | experiment |",
             "|---|---|---|---|"]
    for r in payload["rows"]:
        lines.append(f"| {r['formula']} | {r['as_predicted']:.3f} | "
                     f"{r['mp2020_applied_again']:.3f} | {r['experiment']:.3f} |")
    lines += ["", (f"Mean absolute difference from experiment: as predicted "
              f"{payload['mae_as_predicted']:.3f} eV/atom; with MP2020 applied on top "
              f"{payload['mae_mp2020_applied_again']:.3f} eV/atom.")]
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chgnet")
    args = parser.parse_args()
    name = "energy_scale" if args.model == "chgnet" else f"energy_scale_{args.model}"
    load = os.getloadavg()
    write_results(name, run(args.model), markdown, load_at_start=load)
    print((RESULTS_DIR / f"{name}.md").read_text())


if __name__ == "__main__":
    main()

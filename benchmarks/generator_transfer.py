"""Generators that learn from a user's small data: a property adapter on the frozen
`composition-default`, and fine-tuning on a family of compositions.

    MATFORGE_DATA_DIR=../shared/data python benchmarks/generator_transfer.py --part adapter
    MATFORGE_DATA_DIR=../shared/data python benchmarks/generator_transfer.py --part family

- adapter (results/generator_adapter.*): a property the base model never saw, the bulk
  modulus of `mp-bulk-modulus`. A small labelled set (300 or 1,000 random rows of its train
  split) trains a new condition embedding on the frozen base (`fine_tune(mode="adapter")`);
  samples are drawn at a low and a high target with classifier-free guidance. Beside it:
  the base model unconditioned, the whole network fine-tuned (`mode="full"`) on the same rows,
  and the same conditional transformer trained from scratch on them. The judge is a tree
  ensemble fitted on the whole train split (its test MAE is reported); the held-out lookup
  is the true value of samples whose composition is in the test split.
- family (results/generator_family.*): a user's family of compositions, lithium oxides
  (Li, O and at least one more element), 300 random members of the base model's own
  training splits; fine-tuned (`mode="full"`) against the base and against training from
  scratch on the 300. Measured: share of samples in the family, validity, novelty against
  every composition matforge knows, and recovery of the family's held-out compositions
  (those in the test splits of the base's data sets and absent from every train split).

Validity is SMACT's strict check with its current default oxidation states (charge-neutral,
electronegativity-balanced, not all-metal). Nothing here is chosen on a test split: the
targets, guidance weights and training settings are fixed in this file.
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
from common import provenance_footer, write_results

warnings.filterwarnings("ignore")

BASE = "composition-default"
PROPERTY, PROPERTY_SET = "bulk_modulus", "mp-bulk-modulus"
TARGETS = (20.0, 250.0)  # GPa: about the 10th and 97th percentiles of the train split
GUIDANCE = (1.5, 3.0)
SIZES = (300, 1000)
BASE_SETS = ("mp-e-hull", "mp-transport", "oqmd-bandgap")
FAMILY_SIZE = 300


def judge(train, test):
    """A tree ensemble on the property's whole train split, and its MAE on the test split."""
    from matforge.surrogates.ensemble import EnsembleSurrogate

    model = EnsembleSurrogate(n_members=2, max_iter=150, featurizer="magpie", progress=False)
    model.fit(list(train.formula), train[PROPERTY].to_numpy(float))
    mae = float(np.mean(np.abs(model.predict(list(test.formula))[0] - test[PROPERTY])))
    return model, mae


def describe(formulas: list[str], model, lookup: dict[str, float], known: set[str]) -> dict:
    """Median judged property, validity, uniqueness, novelty and the held-out lookup."""
    from matforge.chem import check_composition
    from matforge.generators.composition.known import keys_of

    formulas = [f for f in formulas if f]
    keys = keys_of(formulas).tolist()
    pred = model.predict(formulas)[0]
    hits = [lookup[k] for k in set(keys) if k in lookup]
    return {"n": len(formulas), "median_pred": float(np.median(pred)),
            "valid_pct": 100 * float(np.mean([check_composition(f).valid_strict
                                               for f in formulas])),
            "unique_pct": 100 * len(set(keys)) / len(formulas),
            "novel_pct": 100 * len(set(keys) - known) / len(set(keys)),
            "held_out_hits": len(hits),
            "held_out_mean": float(np.mean(hits)) if hits else None}


def known_keys() -> set[str]:
    from matforge.data.known import known_compositions
    from matforge.representations.tokens import formula_keys

    return formula_keys(sorted(known_compositions().formulas))


def part_adapter(n_samples: int, seed: int) -> dict:
    from matforge.data import load_dataset
    from matforge.generators import load_generator
    from matforge.generators.composition.known import keys_of
    from matforge.generators.composition.transformer import TransformerGenerator

    train, test = load_dataset(PROPERTY_SET, "train"), load_dataset(PROPERTY_SET, "test")
    model, judge_mae = judge(train, test)
    lookup = dict(zip(keys_of(test.formula), test[PROPERTY]))
    known = known_keys()
    rows = [{"variant": "base, unconditioned", "size": None, "target": None, "guidance": None,
             **describe(load_generator(BASE).sample_formulas(n_samples, seed=seed), model,
                        lookup, known)}]
    for size in SIZES:
        small = train.sample(size, random_state=seed)
        variants = {
            "adapter (frozen base)": load_generator(BASE).fine_tune(small, [PROPERTY],
                                                                    mode="adapter", seed=seed),
            "full fine-tune": load_generator(BASE).fine_tune(small, [PROPERTY], mode="full",
                                                             seed=seed),
            "scratch": TransformerGenerator([PROPERTY]).fit(small, epochs=300, batch_size=64,
                                                            max_minutes=10, seed=seed)}
        for name, gen in variants.items():
            for target in TARGETS:
                for w in GUIDANCE:
                    forms = gen.sample_formulas(n_samples, {PROPERTY: target}, seed=seed,
                                                guidance=w)
                    rows.append({"variant": name, "size": size, "target": target,
                                 "guidance": w, "n_labelled_valid": gen.info["n_train"]
                                 + gen.info["n_val"], **describe(forms, model, lookup, known)})
            print(f"adapter part: {name} at {size} rows done", flush=True)
    base_median = rows[0]["median_pred"]
    for r in rows[1:]:
        r["fraction_of_the_way"] = (base_median - r["median_pred"]) / (base_median - r["target"])
    return {"property": PROPERTY, "data": PROPERTY_SET, "judge_test_mae": judge_mae,
            "n_samples": n_samples, "seed": seed, "rows": rows}


def in_family(formula: str) -> bool:
    from pymatgen.core import Composition

    els = {e.symbol for e in Composition(formula).elements}
    return {"Li", "O"} <= els and len(els) >= 3


def family_sets(seed: int):
    """(the user's 300 family members, the family's held-out keys)."""
    import pandas as pd

    from matforge.data import load_dataset
    from matforge.representations.tokens import formula_keys

    train = pd.concat([load_dataset(n, "train") for n in BASE_SETS], ignore_index=True)
    train_all = formula_keys(train.formula.astype(str))
    fam = train[[in_family(f) for f in train.formula.astype(str)]].drop_duplicates("formula")
    test = pd.concat([load_dataset(n, "test") for n in BASE_SETS], ignore_index=True)
    held = formula_keys(f for f in test.formula.astype(str) if in_family(f)) - train_all
    return fam.sample(FAMILY_SIZE, random_state=seed)[["formula"]], held


def part_family(n_samples: int, seed: int) -> dict:
    from matforge.chem import check_composition
    from matforge.generators import load_generator
    from matforge.generators.composition.known import keys_of
    from matforge.generators.composition.transformer import TransformerGenerator

    small, held = family_sets(seed)
    known = known_keys()
    variants = {"base": load_generator(BASE),
                "full fine-tune": load_generator(BASE).fine_tune(small, mode="full", seed=seed),
                "scratch": TransformerGenerator().fit(small, epochs=300, batch_size=64,
                                                      max_minutes=10, seed=seed)}
    rows = []
    for name, gen in variants.items():
        forms = [f for f in gen.sample_formulas(n_samples, seed=seed) if f]
        keys = keys_of(forms).tolist()
        fam = [in_family(f) for f in forms]
        valid = [check_composition(f).valid_strict for f in forms]
        novel_fam = {k for k, f, v in zip(keys, fam, valid) if f and v and k not in known}
        rows.append({"variant": name, "n": len(forms),
                     "family_pct": 100 * float(np.mean(fam)),
                     "valid_pct": 100 * float(np.mean(valid)),
                     "unique_pct": 100 * len(set(keys)) / len(forms),
                     "valid_novel_family_members": len(novel_fam),
                     "held_out_recovered": len(set(keys) & held)})
        print(f"family part: {name} done", flush=True)
    return {"family": "Li and O and at least one more element", "n_train": len(small),
            "n_held_out": len(held), "n_samples": n_samples, "seed": seed, "rows": rows}


def fmt(v, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def render_adapter(p: dict) -> str:
    lines = ["# A property adapter on the frozen composition transformer", "",
             (f"New property: {p['property']} ({p['data']}), never seen by `{BASE}`. "
              f"{p['n_samples']} samples per row, seed {p['seed']}. Judge: tree ensemble on the "
              f"whole train split, test MAE {p['judge_test_mae']:.1f} GPa. Held-out lookup: "
              "samples whose composition is in the test split."), "",
             ("| variant | labelled rows (valid used) | target GPa | guidance | median judged "
              "GPa | fraction of the way | valid % | unique % | novel % | test hits | their "
              "mean true GPa |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in p["rows"]:
        used = f"{r['size']} ({r['n_labelled_valid']})" if r["size"] else "-"
        lines.append(f"| {r['variant']} | {used} | {fmt(r['target'], '.0f')} | "
                     f"{fmt(r['guidance'])} | {r['median_pred']:.1f} | "
                     f"{fmt(r.get('fraction_of_the_way'), '.2f')} | {r['valid_pct']:.1f} | "
                     f"{r['unique_pct']:.1f} | {r['novel_pct']:.1f} | {r['held_out_hits']} | "
                     f"{fmt(r['held_out_mean'])} |")
    lines += ["", ("Fraction of the way: (unconditioned median - conditioned median) / "
                   "(unconditioned median - target); target >= 0.5 at >= 90% validity. "
                   "Labelled rows: the random rows of the train split given; the model keeps "
                   "those that pass the strict SMACT check."), "", provenance_footer(p)]
    return "\n".join(lines)


def render_family(p: dict) -> str:
    lines = ["# Fine-tuning the composition transformer on a family of compositions", "",
             (f"Family: {p['family']}; {p['n_train']} members of the base model's own train "
              f"splits given; {p['n_held_out']} held-out members (test splits, absent from every "
              f"train split). {p['n_samples']} samples per model, seed {p['seed']}."), "",
             ("| model | in family % | valid % | unique % | valid novel family members | "
              "held-out members recovered |"),
             "|---|---|---|---|---|---|"]
    for r in p["rows"]:
        lines.append(f"| {r['variant']} | {r['family_pct']:.1f} | {r['valid_pct']:.1f} | "
                     f"{r['unique_pct']:.1f} | {r['valid_novel_family_members']} | "
                     f"{r['held_out_recovered']} |")
    lines += ["", provenance_footer(p)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("adapter", "family"), default="adapter")
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from matforge.generators.composition.common import set_threads

    set_threads()
    load = os.getloadavg()
    if args.part == "adapter":
        write_results("generator_adapter", part_adapter(args.n_samples, args.seed),
                      render_adapter, load_at_start=load)
    else:
        write_results("generator_family", part_family(args.n_samples, args.seed),
                      render_family, load_at_start=load)
    from common import RESULTS_DIR

    print((RESULTS_DIR / f"generator_{args.part}.md").read_text())


if __name__ == "__main__":
    main()

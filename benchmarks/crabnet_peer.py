"""Train CrabNet (PyPI crabnet 1.0.1) on a CrabNet benchmark split, beside matforge's surrogates.

crabnet 1.0.1 cannot be pip-installed normally on Python 3.11 (its metadata requires the pip
packages `python`, `pytorch` and `cudatoolkit`), imports itself as `CrabNet` while installing
`crabnet`, and does not ship its element tables. Run it in its own virtual environment that
sees the system torch (torch is not changed):

    python -m venv --system-site-packages /tmp/crabenv
    /tmp/crabenv/bin/pip install --no-deps crabnet==1.0.1 seaborn
    SP=$(/tmp/crabenv/bin/python -c "import site; print(site.getsitepackages()[0])")
    ln -s $SP/crabnet $SP/CrabNet; mkdir -p $SP/data
    ln -s $MATFORGE_DATA_DIR/element_properties $SP/data/element_properties
    /tmp/crabenv/bin/python benchmarks/crabnet_peer.py --task mp_bulk_modulus --epochs 40
    /tmp/crabenv/bin/python benchmarks/crabnet_peer.py --task matbench-expt-gap --epochs 20
    /tmp/crabenv/bin/python benchmarks/crabnet_peer.py --task mp_e_hull --epochs 2 \
        --epochs-step 1 --swa-val-rows 1000 --name crabnet_mp_e_hull_2epochs

CrabNet's uncertainty head is scored raw and after the same std calibration on val that
matforge's surrogates use. Writes benchmarks/results/crabnet_<task>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def fit_and_score(train_csv: Path, val_csv: Path, test_csv: Path, name: str,
                  epochs: int, epochs_step: int = 10, swa_val_rows: int | None = None) -> dict:
    """Train CrabNet on train_csv with val_csv as its validation set (as CrabNet does);
    score test_csv raw and after a std calibration fitted on val_csv.

    `epochs_step` is the length in epochs of half of CrabNet's cyclic learning-rate cycle
    (10 in CrabNet, hard-coded in `Model.fit`); a smaller one lets a short, budget-matched
    run still finish whole cycles and take its SWA averages. In the last epoch of each cycle
    CrabNet scores its whole validation set after every training batch (its SWA updates);
    `swa_val_rows` gives it a seeded sample of val for that instead (the std is still
    calibrated on all of val)."""
    from CrabNet.kingcrab import CrabNet
    from CrabNet.model import Model
    from CrabNet.utils.optim import SWA

    from matforge.surrogates.calibration import StdCalibrator, calibration_report

    # torch 2's Optimizer.step wrapper reads hook tables that CrabNet's SWA wrapper never
    # creates (it skips Optimizer.__init__); empty tables restore the old behaviour.
    for attr in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks"):
        if not hasattr(SWA, attr):
            setattr(SWA, attr, OrderedDict())

    class BudgetModel(Model):
        # Model.fit assigns epochs_step = 10 before using it; this property ignores that.
        epochs_step = property(lambda self: epochs_step, lambda self, value: None)

    t0 = time.perf_counter()
    model = BudgetModel(CrabNet(compute_device=torch.device("cpu")).to("cpu"),
                        model_name=name, verbose=False)
    model.load_data(str(train_csv), batch_size=256, train=True)
    if swa_val_rows is not None:
        import pandas as pd

        sample = pd.read_csv(val_csv, keep_default_na=False)  # "NaN" is a formula
        sample = sample.sample(n=min(swa_val_rows, len(sample)), random_state=0)
        sample.to_csv("swa_val.csv", index=False)  # the working directory is a temporary one
        model.load_data("swa_val.csv", batch_size=256)
    else:
        model.load_data(str(val_csv), batch_size=256)
    model.fit(epochs=epochs, losscurve=False, learningcurve=False)
    fit_s = time.perf_counter() - t0
    yv, pv, _, sv = model.predict(str(val_csv))
    yt, pt, _, st = model.predict(str(test_csv))
    cal = StdCalibrator().fit(yv, pv, sv)
    return {"fit_seconds": round(fit_s, 1), "n": len(yt),
            "test_raw": calibration_report(yt, pt, st).to_dict(),
            "test_calibrated": calibration_report(yt, pt, cal(st)).to_dict()}


def matbench_folds(task: str, seed: int, epochs: int, epochs_step: int,
                   workdir: Path) -> dict:
    """The same 5 folds (and 10% calibration hold-out) as benchmarks/surrogates.py."""
    from common import matbench_cv

    from matforge.data import load_dataset

    frame = load_dataset(task, "all").reset_index(drop=True)
    target = "band_gap"

    def run_fold(train, cal, test) -> dict:
        paths = []
        for part, rows in (("train", train), ("val", cal), ("test", test)):
            path = workdir / f"{part}.csv"
            rows[["formula", target]].rename(columns={target: "target"}).to_csv(path,
                                                                                index=False)
            paths.append(path)
        res = fit_and_score(*paths, name=task, epochs=epochs, epochs_step=epochs_step)
        print(f"  fold MAE {res['test_calibrated']['mae']:.4f}", flush=True)
        return {**res["test_calibrated"], "fit_seconds": res["fit_seconds"], "n": res["n"],
                "raw_coverage_95": res["test_raw"]["coverage_95"]}

    return matbench_cv(frame, seed, run_fold,
                       ("mae", "rmse", "coverage_68", "coverage_95", "miscalibration_area",
                        "fit_seconds", "raw_coverage_95"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="mp_bulk_modulus",
                    help="folder under compositions/, or matbench-expt-gap (5 folds)")
    ap.add_argument("--epochs", type=int, default=40,
                    help="multiple of 2 x --epochs-step (CrabNet's learning-rate cycle)")
    ap.add_argument("--epochs-step", type=int, default=10,
                    help="half-cycle of the cyclic learning rate, in epochs (CrabNet: 10)")
    ap.add_argument("--swa-val-rows", type=int,
                    help="score only this many val rows in CrabNet's per-batch SWA checks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", help="result file stem (default crabnet_<task>)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("MATFORGE_TORCH_THREADS", "2")))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    note = "CPU, 2 cores shared with other jobs; epochs reduced from CrabNet's default"
    data_dir = Path(os.environ.get("MATFORGE_DATA_DIR", Path(__file__).resolve().parents[2]
                                   / "shared" / "data")).resolve()
    os.environ["MATFORGE_DATA_DIR"] = str(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # CrabNet writes learning curves and weights into the working directory
        if args.task.startswith("matbench"):
            out = {"task": args.task, "epochs": args.epochs, "epochs_step": args.epochs_step,
                   "note": note,
                   **matbench_folds(args.task, args.seed, args.epochs, args.epochs_step,
                                     Path(tmp))}
        else:
            root = data_dir / "compositions" / args.task
            res = fit_and_score(root / "train.csv", root / "val.csv", root / "test.csv",
                                args.task, args.epochs, args.epochs_step, args.swa_val_rows)
            out = {"task": args.task, "epochs": args.epochs, "epochs_step": args.epochs_step,
                   "swa_val_rows": args.swa_val_rows, "torch_threads": torch.get_num_threads(), "fit_seconds": res["fit_seconds"],
                   "test_raw": res["test_raw"], "test_calibrated": res["test_calibrated"],
                   "note": note}
    res_dir = Path(__file__).resolve().parent / "results"
    res_dir.mkdir(exist_ok=True)
    name = args.name or f"crabnet_{args.task.replace('-', '_')}"
    (res_dir / f"{name}.json").write_text(
        json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "folds"}, indent=2))


if __name__ == "__main__":
    main()

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

CrabNet's uncertainty head is scored raw and after the same std calibration on val that
matforge's surrogates use. Writes benchmarks/results/crabnet_<task>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="mp_bulk_modulus", help="folder under compositions/")
    ap.add_argument("--epochs", type=int, default=40, help="multiple of 20 (CrabNet's cycle)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("MATFORGE_TORCH_THREADS", "2")))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    from CrabNet.kingcrab import CrabNet
    from CrabNet.model import Model

    from matforge.surrogates.calibration import StdCalibrator, calibration_report

    root = Path(os.environ.get("MATFORGE_DATA_DIR", Path(__file__).resolve().parents[2]
                               / "shared" / "data")) / "compositions" / args.task
    t0 = time.perf_counter()
    model = Model(CrabNet(compute_device=torch.device("cpu")).to("cpu"), model_name=args.task,
                  verbose=False)
    model.load_data(str(root / "train.csv"), batch_size=256, train=True)
    model.load_data(str(root / "val.csv"), batch_size=256)
    model.fit(epochs=args.epochs, losscurve=False, learningcurve=False)
    fit_s = time.perf_counter() - t0
    yv, pv, _, sv = model.predict(str(root / "val.csv"))
    yt, pt, _, st = model.predict(str(root / "test.csv"))
    cal = StdCalibrator().fit(yv, pv, sv)
    out = {"task": args.task, "epochs": args.epochs, "fit_seconds": round(fit_s, 1),
           "test_raw": calibration_report(yt, pt, st).to_dict(),
           "test_calibrated": calibration_report(yt, pt, cal(st)).to_dict(),
           "note": "CPU, 2 cores shared with other jobs; epochs reduced from CrabNet's default"}
    res = Path(__file__).resolve().parent / "results"
    res.mkdir(exist_ok=True)
    (res / f"crabnet_{args.task}.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

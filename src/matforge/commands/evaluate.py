"""`matforge evaluate`: every metric of `matforge.metrics` on a set of samples, plus a report."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from matforge.errors import MatforgeError


def run_evaluation(input: str, reference: str | None, test: str | None, targets: str | None,
                   out: Path, sun_threshold: float = 0.1, n_jobs: int | None = None,
                   progress: bool = True, cov_cutoffs: str | None = None) -> dict:
    """Load the inputs, evaluate, and write metrics.json, per_sample.csv and report.html."""
    from matforge.data import load_dataset
    from matforge.metrics import evaluate, load_set
    from matforge.report.evaluation import build_evaluation_report

    if not Path(input).exists():
        raise MatforgeError(f"{input}: input not found (a CSV with formula/cif or a CIF folder)")
    samples = load_dataset(input)
    ref = load_set(reference, "train") if reference else None
    tst = load_set(test, "test") if test else None
    tgt = load_set(targets, "test") if targets else None
    cut = None
    if cov_cutoffs:
        try:
            struc, comp = (float(x) for x in cov_cutoffs.split(","))
        except ValueError:
            raise MatforgeError(
                f"--cov-cutoffs {cov_cutoffs!r}: use STRUC,COMP, e.g. 0.4,10") from None
        cut = (struc, comp)
    result = evaluate(samples, reference=ref, test=tst, targets=tgt, sun_threshold=sun_threshold,
                      n_jobs=n_jobs, progress=progress, cov_cutoffs=cut)
    out.mkdir(parents=True, exist_ok=True)
    payload = dict(result.metrics)
    payload["details"] = result.details
    (out / "metrics.json").write_text(json.dumps(payload, indent=2, default=_json) + "\n")
    result.per_sample.to_csv(out / "per_sample.csv", index_label="index")
    build_evaluation_report(result, out / "report.html",
                            {"input": input, "reference": reference, "test": test,
                             "targets": targets})
    return payload


def _json(obj: object) -> object:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        input: str = typer.Argument(..., help="CSV with formula and/or cif, or a folder of CIFs"),
        reference: str | None = typer.Option(
            None, "--reference", help="training set for novelty: name[:split] or path"),
        test: str | None = typer.Option(
            None, "--test", help="test set for coverage, distributions, recovery"),
        targets: str | None = typer.Option(
            None, "--targets", help="CSP targets (structures): name[:split] or path"),
        out: Path = typer.Option(..., "--out", help="output folder"),
        sun_threshold: float = typer.Option(0.1, help="stability threshold, eV/atom above hull"),
        jobs: int | None = typer.Option(None, "--jobs", help="worker processes (default: cores)"),
        cov_cutoffs: str | None = typer.Option(
            None, "--cov-cutoffs", help="COV thresholds STRUC,COMP (default: CDVAE's)"),
    ) -> None:
        """Validity, uniqueness, novelty, coverage, distances, CSP, S.U.N., recovery, cost."""
        metrics = run_evaluation(input, reference, test, targets, out, sun_threshold, jobs,
                                 cov_cutoffs=cov_cutoffs)
        shown = {k: v for k, v in metrics.items() if k != "details"}
        for key, value in shown.items():
            typer.echo(f"{key:32s} {'n/a' if value is None else value}")
        typer.echo(f"wrote {out}/metrics.json, per_sample.csv, report.html")

"""An external-command oracle: run the user's own program (DFT driver, script) per candidate.

For each candidate a fresh folder gets `candidate.json` (formula, provenance) and, when the
candidate has a structure, `structure.cif`. The program is run with an argument list, never
through a shell: `PROG [ARGS...] candidate.json result.json` where ARGS may use the
placeholders {input}, {output}, {cif}, {formula}, {workdir} (if any placeholder is used the two
paths are not appended). The program writes a JSON object of numeric values to result.json
(or prints one as the last line of stdout). Exit code, stderr tail and timeouts are recorded
in the Result; a failing program fails only its candidate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.oracles.base import OK, Oracle, Result

PLACEHOLDERS = ("{input}", "{output}", "{cif}", "{formula}", "{workdir}")


class CommandOracle(Oracle):
    name = "command"

    def __init__(self, program: str, args: list[str] | None = None, timeout: float = 600.0,
                 workdir: str | Path | None = None, keep: bool = False):
        resolved = shutil.which(program) or (program if Path(program).is_file() else None)
        if resolved is None:
            raise MatforgeError(f"oracle program not found: {program}")
        self.program = str(resolved)
        self.args = list(args or [])
        self.timeout = float(timeout)
        self.workdir = Path(workdir) if workdir else None
        self.keep = keep

    def argv(self, folder: Path, cand: Candidate) -> list[str]:
        paths = {"{input}": str(folder / "candidate.json"), "{output}": str(folder / "result.json"),
                 "{cif}": str(folder / "structure.cif"), "{formula}": cand.formula,
                 "{workdir}": str(folder)}
        uses = any(p in a for a in self.args for p in PLACEHOLDERS)
        args = []
        for a in self.args:
            for key, value in paths.items():
                a = a.replace(key, value)
            args.append(a)
        if not uses:
            args += [paths["{input}"], paths["{output}"]]
        return [self.program, *args]

    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        return [self._one(c) for c in candidates]

    def _one(self, cand: Candidate) -> Result:
        start = time.perf_counter()
        if self.workdir:
            self.workdir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="oracle_", dir=self.workdir))
        try:
            (folder / "candidate.json").write_text(json.dumps(
                {"formula": cand.formula, "provenance": cand.provenance,
                 "cif": "structure.cif" if cand.structure is not None else None}, default=str))
            if cand.structure is not None:
                (folder / "structure.cif").write_text(cand.structure.to(fmt="cif"))
            try:
                proc = subprocess.run(self.argv(folder, cand), cwd=folder, capture_output=True,
                                      text=True, timeout=self.timeout, shell=False,
                                      check=False)
            except subprocess.TimeoutExpired:
                return Result.failed(cand, f"timed out after {self.timeout:g} s",
                                     time.perf_counter() - start)
            except OSError as exc:
                return Result.failed(cand, f"could not run {self.program}: {exc}",
                                     time.perf_counter() - start)
            seconds = time.perf_counter() - start
            tail = " ".join(proc.stderr.split())[-200:]
            if proc.returncode != 0:
                return Result.failed(cand, f"exit code {proc.returncode}: {tail}", seconds)
            try:
                values = _read_values(folder / "result.json", proc.stdout)
            except ValueError as exc:
                return Result.failed(cand, f"exit code 0 but {exc}; stderr: {tail}", seconds)
            values["exit_code"] = 0.0
            return Result(cand, OK, values, tail, seconds)
        finally:
            if not self.keep:
                shutil.rmtree(folder, ignore_errors=True)


def _read_values(path: Path, stdout: str) -> dict[str, float]:
    text = path.read_text() if path.is_file() else (stdout.strip().splitlines() or [""])[-1]
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("no JSON object in result.json or the last stdout line") from None
    if not isinstance(data, dict):
        raise ValueError("the result is not a JSON object")  # noqa: TRY004
    out = {}
    for key, value in data.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    if not out:
        raise ValueError("the result has no numeric values")
    return out

import sys
import textwrap

import pytest

from matforge.candidate import Candidate
from matforge.oracles.command import CommandOracle
from matforge.oracles.lookup import LookupOracle
from matforge.oracles.plugins import build_oracle, load_plugin


def test_lookup_oracle(pool_tables):
    _, table = pool_tables
    oracle = LookupOracle(table)
    import pandas as pd

    row = pd.read_csv(table).iloc[0]
    res = oracle.evaluate([Candidate(row["formula"]), Candidate("Xe2Kr")])
    assert res[0].ok and res[0].values["log10_PF_p"] == pytest.approx(row["log10_PF_p"])
    assert not res[1].ok and "not in the lookup table" in res[1].reason


def test_command_oracle_argument_list_exit_code_and_timeout(tmp_path):
    script = tmp_path / "dft.py"
    script.write_text(textwrap.dedent("""
        import json, sys, time
        inp, out = sys.argv[1], sys.argv[2]
        formula = json.load(open(inp))["formula"]
        if formula == "NaCl":
            sys.stderr.write("scf did not converge")
            sys.exit(3)
        if formula == "KCl":
            time.sleep(30)
        json.dump({"energy": -len(formula), "note": "text ignored"}, open(out, "w"))
    """))
    oracle = CommandOracle(sys.executable, args=[str(script)], timeout=3)
    # a formula with shell metacharacters would break a shell string; an argv list is safe
    res = oracle.evaluate([Candidate("Fe2O3"), Candidate("NaCl"), Candidate("KCl")])
    assert res[0].ok and res[0].values["energy"] == -len("Fe2O3")
    assert res[0].values["exit_code"] == 0
    assert not res[1].ok and "exit code 3" in res[1].reason and "converge" in res[1].reason
    assert not res[2].ok and "timed out" in res[2].reason


def _band_gap_rule(candidate):
    return {"n_elements": float(len(candidate.composition.elements))}


def test_plugin_function_and_factory():
    oracle = load_plugin(f"{__name__}:_band_gap_rule")
    assert oracle.evaluate([Candidate("Fe2O3")])[0].values == {"n_elements": 2.0}
    assert build_oracle("plugin", f"{__name__}:_band_gap_rule").evaluate(
        [Candidate("LiFePO4")])[0].values["n_elements"] == 4.0

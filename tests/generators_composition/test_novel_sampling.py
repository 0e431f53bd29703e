"""`novel_only` sampling: the transformer keeps its training compositions beside its weights
and can leave them out of its samples, alone or with the SMACT filter, from Python and CLI."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from matforge.chem import check_composition
from matforge.errors import MatforgeError
from matforge.generators.base import load_generator
from matforge.generators.composition import known
from matforge.generators.composition.transformer import TransformerGenerator

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, transport_train):
    # 1,500 real Materials Project compositions (mp-transport, embedded; conftest.py)
    frame = transport_train.sample(1500, random_state=1)
    gen = TransformerGenerator(d_model=32, n_layers=1, d_ff=64)
    # several epochs on a small set: the model memorises, so plain samples repeat training rows;
    # bounded by epochs, not wall time, so a busy machine trains the same model
    gen.fit(frame, epochs=6, batch_size=64, valid_only=False, max_minutes=None)
    path = gen.save(tmp_path_factory.mktemp("m") / "tf")
    return frame, gen, path


def test_training_keys_saved_and_loaded(trained):
    frame, gen, path = trained
    assert (path / known.FILE).exists()
    expected = {k for k in known.keys_of(frame["formula"].astype(str)) if k}
    assert gen.known == expected
    assert load_generator(path).known == expected


def test_novel_only_leaves_out_training_compositions(trained):
    _, gen, _ = trained
    plain = [c.composition.reduced_formula for c in gen.sample(400, seed=0)]
    plain_keys = known.keys_of(plain)
    assert sum(k in gen.known for k in plain_keys) > 0  # the filter has work to do
    cands = gen.sample(200, seed=0, novel_only=True)
    keys = known.keys_of([c.composition.reduced_formula for c in cands])
    assert len(cands) == 200
    assert not any(k in gen.known for k in keys)
    assert len(set(keys)) == len(keys)
    assert all(c.provenance["filtered"] == "novel" for c in cands)
    both = gen.sample(50, seed=0, novel_only=True, reject_invalid=True)
    assert all(check_composition(c.composition).valid_strict for c in both)
    assert not any(k in gen.known for k in known.keys_of([str(c.composition) for c in both]))


def test_model_without_keys_refuses_novel_only(trained, tmp_path):
    _, gen, _ = trained
    bare = TransformerGenerator(d_model=32, n_layers=1, d_ff=64)
    bare.model.load_state_dict(gen.model.state_dict())
    with pytest.raises(MatforgeError, match="training compositions"):
        bare.sample(5, seed=0, novel_only=True)


def test_cli_novel_and_valid_flags(trained, tmp_path):
    from matforge.cli import app

    _, gen, path = trained
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["generate", "--model", str(path), "-n", "30", "--seed", "2",
                                   "--novel-only", "--valid-only", "--out", str(out)])
    assert res.exit_code == 0, res.output
    formulas = pd.read_csv(out, keep_default_na=False)["formula"].tolist()
    assert len(formulas) == 30
    assert all(check_composition(f).valid_strict for f in formulas)
    assert not any(k in gen.known for k in known.keys_of(formulas))


def test_cli_flag_on_a_generator_without_it(tmp_path):
    from matforge.cli import app

    res = CliRunner().invoke(app, ["generate", "--model", "template", "-n", "2", "--novel-only",
                                   "--out", str(tmp_path / "x.csv")])
    assert res.exit_code != 0
    assert isinstance(res.exception, MatforgeError)
    assert "--novel-only" in str(res.exception)

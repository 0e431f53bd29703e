"""Fine-tuning the composition transformer: a property adapter on a frozen base, and the whole
network on a family of compositions, from Python and the CLI.

A small base model is trained for seconds on real Materials Project compositions without
any condition; the "new property" is log10_PF_p of the same rows (conftest.py). The tests
check behaviour (frozen weights, unchanged unconditional samples, the guidance moving
samples, persistence); the quality figures come from benchmarks/generator_transfer.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Composition
from typer.testing import CliRunner

from matforge.errors import MatforgeError
from matforge.generators.base import load_generator
from matforge.generators.composition.transformer import TransformerGenerator

torch.set_num_threads(1)
PROP = "log10_PF_p"


@pytest.fixture(scope="module")
def base(transport_train, tmp_path_factory) -> str:
    """An unconditional base model, saved; each test loads its own copy."""
    gen = TransformerGenerator(d_model=32, n_layers=1, d_ff=64)
    gen.fit(transport_train.sample(3000, random_state=1), epochs=3, batch_size=128,
            valid_only=False, max_minutes=1)
    return str(gen.save(tmp_path_factory.mktemp("base") / "m"))


@pytest.fixture(scope="module")
def labelled(transport_train) -> pd.DataFrame:
    return transport_train.sample(400, random_state=2)


def test_adapter_trains_only_the_new_embedding(base, labelled, tmp_path):
    gen = load_generator(base)
    before = {k: v.clone() for k, v in gen.model.state_dict().items()}
    plain = gen.sample_formulas(300, seed=5)
    gen.fine_tune(labelled, [PROP], mode="adapter", epochs=20, valid_only=False)
    after = gen.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k != "null")
    assert torch.equal(after["null"], torch.zeros_like(after["null"]))  # "unknown" = base
    assert gen.condition_on == [PROP] and PROP in gen.stats
    assert gen.info["fine_tune"] == "adapter" and gen.info["base"]["epochs"] == 3
    # unconditioned, the adapted model samples exactly what the base did
    assert gen.sample_formulas(300, seed=5) == plain
    assert all(p.requires_grad for p in gen.model.parameters())
    gen.save(tmp_path / "tuned")
    again = load_generator(tmp_path / "tuned")
    assert again.sample_formulas(200, {PROP: 1.5}, seed=1) == \
        gen.sample_formulas(200, {PROP: 1.5}, seed=1)


def test_adapter_condition_moves_the_samples(base, labelled):
    """Compositions sampled for a high target are likelier under the high-target condition
    than those sampled for a low one: the new embedding steers the frozen network."""
    gen = load_generator(base).fine_tune(labelled, [PROP], mode="adapter", epochs=40,
                                         valid_only=False)
    high = [f for f in gen.sample_formulas(400, {PROP: 2.0}, seed=1, guidance=2.0) if f]
    low = [f for f in gen.sample_formulas(400, {PROP: -1.0}, seed=1, guidance=2.0) if f]
    with torch.no_grad():
        margin_high = (gen.log_likelihood(high, {PROP: 2.0})
                       - gen.log_likelihood(high, {PROP: -1.0})).mean()
        margin_low = (gen.log_likelihood(low, {PROP: 2.0})
                      - gen.log_likelihood(low, {PROP: -1.0})).mean()
    assert float(margin_high) > float(margin_low)


def test_adapter_needs_a_new_property(base, labelled):
    gen = load_generator(base)
    with pytest.raises(MatforgeError, match="mode='full'"):
        gen.fine_tune(labelled, [], mode="adapter")
    with pytest.raises(MatforgeError, match="unknown fine-tuning mode"):
        gen.fine_tune(labelled, [PROP], mode="lora")


def test_full_fine_tune_moves_toward_the_family(base, transport_train):
    """Fine-tuned on oxides of lithium, the model samples more of them than the base."""
    family = transport_train[transport_train.formula.str.contains("Li")
                             & transport_train.formula.str.contains("O")]
    gen = load_generator(base)
    share_before = np.mean(["Li" in f for f in gen.sample_formulas(400, seed=2)])
    gen.fine_tune(family.head(300), mode="full", epochs=15, lr=2e-3, valid_only=False)
    share_after = np.mean(["Li" in f for f in gen.sample_formulas(400, seed=2)])
    assert share_after > share_before + 0.1
    assert gen.known >= load_generator(base).known  # novelty still counts the base's data


def test_cli_fine_tunes_a_pretrained_model(base, labelled, tmp_path):
    from matforge.cli import app

    data = tmp_path / "mine.csv"
    labelled.to_csv(data, index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["train", "composition-transformer", "--data", str(data),
                              "--pretrained", base, "--condition-on", PROP, "--epochs", "2",
                              "--all-compositions", "--out", str(tmp_path / "tuned")])
    assert res.exit_code == 0, res.output
    tuned = load_generator(tmp_path / "tuned")
    assert tuned.condition_on == [PROP] and tuned.info["fine_tune"] == "adapter"
    out = tmp_path / "high.csv"
    res = runner.invoke(app, ["generate", "--model", str(tmp_path / "tuned"), "-n", "30",
                              "--condition", f"{PROP}=2", "--guidance", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    expected = [Composition(f) for f in tuned.sample_formulas(30, {PROP: 2.0}, seed=0,
                                                              guidance=3.0) if f]
    written = pd.read_csv(out, keep_default_na=False)["formula"]
    assert [Composition(f) for f in written] == expected
    res = runner.invoke(app, ["generate", "--model", str(tmp_path / "tuned"), "-n", "5",
                              "--guidance", "3", "--out", str(out)])
    assert res.exit_code != 0 and "--condition" in str(res.exception)
    res = runner.invoke(app, ["train", "composition-vae", "--data", str(data), "--pretrained",
                              base, "--out", str(tmp_path / "v")])
    assert res.exit_code != 0 and "composition-transformer" in str(res.exception)

"""Composition generators: tokens, the four model families, persistence, CLI, shipped model.

Models are trained for seconds on 1,500 real Materials Project compositions (mp-transport,
embedded; conditioned on log10_PF_p, see conftest.py): the tests check behaviour (grammar,
determinism, round trips, conditioning plumbing), not quality; the quality figures come from
benchmarks/composition_generation.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from matforge.chem import check_composition
from matforge.errors import MatforgeError
from matforge.generators.base import SHIPPED_MODELS, load_generator
from matforge.generators.composition.blank import BlankFillingGenerator
from matforge.generators.composition.gan import GANGenerator
from matforge.generators.composition.transformer import TransformerGenerator
from matforge.generators.composition.vae import VAEGenerator
from matforge.representations.tokens import (
    arrays_to_formulas,
    canonical_keys,
    count_matrix,
    formulas_to_arrays,
    matrix_to_arrays,
    parse_reduced,
)

torch.set_num_threads(1)
PROP = "log10_PF_p"  # the conditioning property of the training rows (conftest.py)


@pytest.fixture(scope="module")
def small_train(transport_train) -> pd.DataFrame:
    return transport_train.sample(1500, random_state=0)


# ------------------------------------------------------------------ tokens
def test_tokens_round_trip_and_keys():
    el, cnt, ok = formulas_to_arrays(["Fe2O3", "NaN", "Li2Fe2P2O8", "Fe0.5O0.5", "Xx2"], 8, 20)
    assert ok.tolist() == [True, True, True, True, False] or ok.tolist()[:3] == [True] * 3
    formulas = arrays_to_formulas(el[:3], cnt[:3])
    assert formulas == ["Fe2O3", "NaN", "LiFePO4"]  # reduced, electronegativity order
    keys = canonical_keys(el[:3], cnt[:3])
    assert len(set(keys)) == 3
    assert canonical_keys(*formulas_to_arrays(["O3Fe2"], 8, 20)[:2])[0] == keys[0]
    assert parse_reduced("Fe0.3O0.7") is None  # fractional amounts are not tokens
    m = count_matrix(el[:3], cnt[:3], 8)
    assert arrays_to_formulas(*matrix_to_arrays(m)) == formulas


# ------------------------------------------------------------------ transformer
def test_transformer_fit_sample_save_load(small_train, tmp_path):
    gen = TransformerGenerator(condition_on=[PROP], d_model=32, n_layers=1, d_ff=64)
    gen.fit(small_train, epochs=2, batch_size=128, valid_only=False, max_minutes=1)
    a = gen.sample_formulas(300, seed=3)
    assert a == gen.sample_formulas(300, seed=3)  # same seed, same output
    assert a != gen.sample_formulas(300, seed=4)
    el, _ = gen.sample_arrays(300, seed=3)
    for row in el:  # grammar: >= 2 distinct elements, no repeats
        real = row[row >= 0]
        assert len(real) >= 2 and len(set(real.tolist())) == len(real)
    cond = gen.sample_formulas(200, condition={PROP: 1.5}, seed=1, top_p=0.9,
                               temperature=0.8)
    assert len(cond) == 200 and all(cond)
    cands = gen.sample(50, condition={PROP: (1.0, 2.0)}, seed=1)
    assert cands[0].provenance["generator"] == "composition-transformer"
    assert cands[0].provenance["seed"] == 1
    gen.save(tmp_path / "m")
    again = load_generator(tmp_path / "m")
    assert again.sample_formulas(300, seed=3) == a
    with pytest.raises(MatforgeError):
        gen.sample(5, condition={"band_gap": 1.0})


def test_transformer_reject_invalid(small_train):
    gen = TransformerGenerator(d_model=32, n_layers=1, d_ff=64)
    gen.fit(small_train, epochs=1, batch_size=128, valid_only=False, max_minutes=1)
    cands = gen.sample(10, seed=0, reject_invalid=True)
    assert cands and all(check_composition(c.composition).valid_strict for c in cands)


# ------------------------------------------------------------------ VAE
def test_vae_property_head_and_latent_optimisation(small_train, tmp_path):
    gen = VAEGenerator(condition_on=[PROP], hidden=128, latent=8)
    gen.fit(small_train, epochs=3, batch_size=128, valid_only=False, max_minutes=1)
    z = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    target = torch.full((200, 1), 1.0)
    before = (gen.model.head(z) - target).abs().mean().item()
    moved = gen.optimise_latent(z, target, torch.ones_like(target), steps=40)
    after = (gen.model.head(moved) - target).abs().mean().item()
    assert after < before
    cands = gen.sample(100, condition={PROP: 1.5}, seed=2)
    assert cands and f"pred_{PROP}" in cands[0].scores
    assert gen.sample_formulas(100, seed=2) == gen.sample_formulas(100, seed=2)
    lat = gen.encode(["Fe2O3", "NaCl", "Fe0.5O0.5"])
    assert lat.shape == (3, 8) and np.isfinite(lat[:2]).all()
    gen.save(tmp_path / "v")
    assert load_generator(tmp_path / "v").sample_formulas(50, seed=1) == \
        gen.sample_formulas(50, seed=1)


# ------------------------------------------------------------------ GAN
def test_gan_trains_and_samples(small_train, tmp_path):
    gen = GANGenerator(hidden=64, noise=16)
    gen.fit(small_train, epochs=1, batch_size=64, valid_only=False, max_minutes=0.2)
    assert gen.info["generator_steps"] >= 1
    a = gen.sample_formulas(200, seed=5)
    assert a == gen.sample_formulas(200, seed=5) and len(a) == 200
    gen.save(tmp_path / "g")
    # the GAN saves float16 weights and rounds its own to match, so the model as saved, not
    # the one before saving, is what the loaded copy reproduces
    assert load_generator(tmp_path / "g").sample_formulas(200, seed=5) == \
        gen.sample_formulas(200, seed=5)


# ------------------------------------------------------------------ blank filling
def test_blank_filling(small_train, tmp_path):
    gen = BlankFillingGenerator(condition_on=[PROP], d_model=32, n_layers=1, d_ff=64)
    gen.fit(small_train, epochs=2, batch_size=128, valid_only=False, max_minutes=1)
    ranked = gen.fill("Sr*O3", top_k=5)
    assert len(ranked) == 5
    assert all("Sr" in f and "O" in f for f, _ in ranked)
    assert sum(p for _, p in ranked) <= 1.0 + 1e-6
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    two = gen.fill("Li*2*O4", top_k=3)
    assert len(two) == 3
    subs = gen.substitutions("LiFePO4", top_k=3)
    assert set(subs) == {"Li", "Fe", "P", "O"}
    assert all(e != "Li" for e, _ in subs["Li"])
    cands = gen.sample(200, seed=1, condition={PROP: 1.5})
    assert all(c.formula != c.provenance["parent"] for c in cands)
    with pytest.raises(MatforgeError):
        gen.fill("SrTiO3")
    gen.save(tmp_path / "b")
    assert load_generator(tmp_path / "b").sample_formulas(100, seed=2) == \
        gen.sample_formulas(100, seed=2)


# ------------------------------------------------------------------ CLI
def test_cli_train_and_generate(small_train, tmp_path):
    from matforge.cli import app

    data = tmp_path / "train.csv"
    small_train.to_csv(data, index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["train", "composition-blank", "--data", str(data), "--out",
                              str(tmp_path / "gan"), "--max-minutes", "0.1", "--epochs", "1",
                              "--condition-on", PROP, "--all-compositions"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["generate", "--model", str(tmp_path / "gan"), "-n", "20",
                              "--condition", f"{PROP}=1.5", "--seed", "1", "--out",
                              str(tmp_path / "out.csv")])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert "formula" in out.columns and len(out) > 0


def test_cli_condition_on_unknown_column(small_train, tmp_path):
    from matforge.cli import app

    data = tmp_path / "train.csv"
    small_train.to_csv(data, index=False)
    res = CliRunner().invoke(app, ["train", "composition-vae", "--data", str(data), "--out",
                                   str(tmp_path / "v"), "--condition-on", "band_gap"])
    assert res.exit_code != 0
    assert isinstance(res.exception, MatforgeError)


# ------------------------------------------------------------------ shipped model
@pytest.mark.skipif(not (SHIPPED_MODELS / "composition-default").exists(),
                    reason="composition-default not shipped yet")
def test_shipped_default_model_is_mostly_valid():
    gen = load_generator("composition-default")
    formulas = gen.sample_formulas(500, seed=0)
    valid = np.mean([bool(f) and check_composition(f).valid_strict for f in formulas])
    assert valid >= 0.85
    assert len(set(formulas)) >= 480


@pytest.mark.skipif(not (SHIPPED_MODELS / "composition-default").exists(),
                    reason="composition-default not shipped yet")
def test_generate_temperature_reaches_the_sampler(tmp_path):
    """Colder sampling repeats the likeliest compositions; a generator without a temperature
    refuses the flag instead of ignoring it."""
    from matforge.cli import app
    from matforge.data import load_dataset
    from matforge.generators.composition.substitution import SubstitutionGenerator

    runner = CliRunner()
    distinct = {}
    for temp in ("0.3", "1.5"):
        out = tmp_path / f"t{temp}.csv"
        res = runner.invoke(app, ["generate", "--model", "composition-default", "-n", "400",
                                  "--seed", "0", "--temperature", temp, "--out", str(out)])
        assert res.exit_code == 0, res.output
        distinct[temp] = pd.read_csv(out, keep_default_na=False)["formula"].nunique()
    assert distinct["0.3"] < 0.8 * distinct["1.5"]
    SubstitutionGenerator().fit(load_dataset("mp-transport", split="train").head(500)).save(
        tmp_path / "sub")
    res = runner.invoke(app, ["generate", "--model", str(tmp_path / "sub"), "-n", "5",
                              "--temperature", "0.5", "--out", str(tmp_path / "s.csv")])
    assert res.exit_code != 0 and isinstance(res.exception, MatforgeError)
    assert "does not support --temperature" in str(res.exception)

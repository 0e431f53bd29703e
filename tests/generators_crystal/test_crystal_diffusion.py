"""Crystal diffusion: the wrapped-normal maths, invariances, and a tiny real training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Composition

from matforge.generators.base import load_generator
from matforge.generators.crystal.diffusion.corruption import Schedule, corrupt, wrapped_normal_score
from matforge.generators.crystal.diffusion.generator import CrystalDiffusion
from matforge.generators.crystal.diffusion.score_model import ScoreNet
from matforge.representations.crystal import decode_structure, encode_structures, lattice_params


def test_wrapped_normal_score_is_the_gradient_of_the_log_density() -> None:
    d = torch.linspace(-0.49, 0.49, 41, dtype=torch.float64)
    sigma = torch.full_like(d, 0.3)
    k = torch.arange(-6, 7, dtype=torch.float64)

    def logp(x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(-((x[:, None] + k) ** 2) / (2 * 0.09), dim=-1)

    h = 1e-5
    numeric = (logp(d + h) - logp(d - h)) / (2 * h)
    assert torch.allclose(wrapped_normal_score(d, sigma), numeric, atol=1e-4)


def test_schedule_and_corruption_shapes() -> None:
    sch = Schedule.make(50)
    assert sch.alpha_bars[0] == pytest.approx(1.0) and sch.alpha_bars[-1] < 0.01
    assert sch.sigmas[0] == 0 and sch.sigmas[-1] == pytest.approx(0.5)
    out = corrupt(sch, torch.tensor([1, 50]), torch.zeros(2, 6), torch.rand(2, 4, 3),
                  torch.ones(2, 4, 3))
    assert out["frac_t"].min() >= 0 and out["frac_t"].max() < 1
    assert out["score_target"].shape == (2, 4, 3)


def test_score_net_is_invariant_to_translation_and_atom_order() -> None:
    torch.manual_seed(0)
    net = ScoreNet(n_types=3, hidden=16, layers=2, n_freq=4).eval()
    types = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2, 2]]), 3).float()
    frac = torch.rand(1, 4, 3)
    lat = torch.randn(1, 6)
    mask = torch.ones(1, 4, dtype=torch.bool)
    args = (mask, torch.tensor([0.3]), torch.tensor([0]), None, None)
    lat_a, x_a, _ = net(types, frac, lat, *args)
    lat_b, x_b, _ = net(types, (frac + torch.tensor([0.37, 0.11, 0.9])) % 1.0, lat, *args)
    perm = torch.tensor([3, 1, 0, 2])
    lat_c, x_c, _ = net(types[:, perm], frac[:, perm], lat, *args)
    assert torch.allclose(lat_a, lat_b, atol=1e-5) and torch.allclose(x_a, x_b, atol=1e-5)
    assert torch.allclose(lat_a, lat_c, atol=1e-5) and torch.allclose(x_a[:, perm], x_c, atol=1e-5)


def test_encoding_roundtrip(fixture_data) -> None:
    cif = fixture_data.load("perov-5", split="val")["cif"].iloc[0]
    from pymatgen.core import Structure

    s = Structure.from_str(cif, fmt="cif")
    vocab = sorted({e.symbol for e in s.composition.elements})
    arr = encode_structures([s], vocab)
    back = decode_structure(arr.types[0], arr.frac[0], arr.lattice[0], vocab)
    assert np.allclose(lattice_params(back), lattice_params(s), atol=1e-5)
    assert back.composition == s.composition


def test_tiny_training_samples_csp_and_de_novo(tmp_path: Path, fixture_data) -> None:
    torch.set_num_threads(2)
    val = fixture_data.load("perov-5", split="val")  # 48 real rows (tests/data/fixtures)
    gen = CrystalDiffusion(hidden=32, layers=2, n_freq=4, steps=20)
    gen.fit(val, epochs=2, batch_size=32, prop="heat_ref", progress=False)
    formula = val["formula"].iloc[0]
    a = gen.propose(formula, k=2, seed=3)
    b = gen.propose(formula, k=2, seed=3)
    assert [s.to(fmt="cif") for s in a] == [s.to(fmt="cif") for s in b]
    assert all(s.composition == Composition(formula) for s in a)
    gen.save(tmp_path / "cd")
    loaded = load_generator(tmp_path / "cd")
    cands = loaded.sample(3, condition={"heat_ref": 0.5}, seed=0)
    assert len(cands) == 3 and all(len(c.structure) == 5 for c in cands)
    assert set(loaded.config["vocab"]) >= {e.symbol for c in cands for e in c.composition}


@pytest.mark.parametrize("name,formula", [("perov-5", "SrTiO3"), ("carbon-24", "C")])
def test_shipped_checkpoints_load_and_predict(name: str, formula: str) -> None:
    gen = load_generator(name)
    assert isinstance(gen, CrystalDiffusion)
    gen.config["sample_steps"] = 3  # a loading/plumbing check, not a quality check
    s = gen.propose(formula, k=1, seed=0)[0]
    assert s.composition.reduced_formula == Composition(formula).reduced_formula

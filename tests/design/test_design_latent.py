import pandas as pd
import pytest

from matforge.design.campaign import run_campaign
from matforge.design.spec import load_spec
from matforge.design.store import CampaignStore


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory, castelli_tables):
    """A small composition VAE trained for a few epochs on the pool's own formulas."""
    vae_mod = pytest.importorskip("matforge.generators.composition.vae")
    pool, _ = castelli_tables
    frame = pd.read_csv(pool)
    model = vae_mod.VAEGenerator(latent=8, hidden=64).fit(frame, epochs=3, batch_size=32,
                                                          valid_only=False, max_minutes=2)
    folder = tmp_path_factory.mktemp("vae")
    model.save(folder)
    return folder


@pytest.mark.slow
def test_latent_bo_over_pool_and_decoding(tmp_path, castelli_tables, tiny_vae):
    pool, table = castelli_tables
    spec = load_spec(None, objectives=["heat_of_formation:max"], oracle=f"lookup:{table}",
                     pool=str(pool), strategy="latent", budget=15, batch_size=5, seed=0)
    spec.strategy.options = {"vae": str(tiny_vae)}
    summary = run_campaign(spec, tmp_path / "latent", progress=False)
    assert summary["evaluations"] == 15
    assert "Latent map" in (tmp_path / "latent" / "report.html").read_text()
    with CampaignStore(tmp_path / "latent" / "campaign.sqlite") as store:
        assert [s["strategy"] for s in store.steps()] == ["random", "latent", "latent"]
    # without a pool: decode optimised latent points into new compositions
    spec2 = spec.model_copy(deep=True)
    spec2.source.pool = None
    spec2.budget = 10
    spec2.strategy.options = {"vae": str(tiny_vae), "steps": 5}
    spec2.source.generator = str(tiny_vae)
    summary2 = run_campaign(spec2, tmp_path / "latent2", progress=False)
    assert summary2["evaluations"] >= 5

import numpy as np

from matforge.data import load_dataset
from matforge.generators.base import load_generator
from matforge.generators.composition.substitution import SubstitutionGenerator


def test_fit_sample_save_load_and_conditioning(tmp_path):
    train = load_dataset("mp-transport", split="train")
    gen = SubstitutionGenerator().fit(train, properties=["PF_p"])
    a = gen.sample(500, seed=3)
    assert [c.formula for c in a] == [c.formula for c in gen.sample(500, seed=3)]
    assert all(c.provenance["parent"] != c.formula for c in a)
    high = float(np.quantile(train["PF_p"], 0.95))
    cond = gen.sample(300, condition={"PF_p": (high, np.inf)}, seed=0)
    parents_pf = train.drop_duplicates("formula").set_index("formula")["PF_p"]
    share_high = np.mean([parents_pf.get(c.provenance["parent"], 0) >= high for c in cond])
    assert share_high > 0.95
    gen.save(tmp_path / "m")
    again = load_generator(tmp_path / "m")
    assert [c.formula for c in again.sample(50, seed=1)] == [c.formula for c in gen.sample(50, seed=1)]

import numpy as np
import pytest

from matforge.design.objectives import Objective, hypervolume, pareto_mask
from matforge.design.spec import load_spec
from matforge.errors import MatforgeError


def test_parse_objectives():
    assert Objective.parse("band_gap:max").goal == "max"
    o = Objective.parse("band_gap:1.5..2.5")
    assert (o.goal, o.low, o.high) == ("range", 1.5, 2.5)
    with pytest.raises(MatforgeError):
        Objective.parse("band_gap")
    with pytest.raises(MatforgeError):
        Objective.parse("band_gap:3..1")


def test_utilities_rank_as_intended():
    win = Objective.parse("x:1.5..2.5")
    u = win.utility(np.array([2.0, 1.6, 2.9, 0.0]))
    assert u[0] > u[1] > u[2] > u[3]  # centre > inside > just outside > far outside
    assert Objective.parse("x:min").utility(3.0) == -3.0


def test_pareto_and_hypervolume_2d():
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.0, 1.0]])
    assert pareto_mask(pts).tolist() == [True, True, True, False]
    # staircase area above (0, 0): 3*1 + 2*1 + 1*1
    assert hypervolume(pts, np.zeros(2)) == pytest.approx(6.0)
    # agrees with BoTorch's implementation
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    ref = Hypervolume(torch.zeros(2)).compute(torch.as_tensor(pts[:3]))
    assert hypervolume(pts, np.zeros(2)) == pytest.approx(float(ref))


def test_spec_yaml_and_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("objectives: ['band_gap:1.5..2.5', 'e:min']\nbudget: 40\n"
                   "oracle: lookup:truth.csv\nstrategy: {name: genetic, options: {surrogate: forest}}\n"
                   "constraints: {forbidden_elements: [Pb]}\n")
    spec = load_spec(cfg, budget=60, strategy="bayesopt", pool="p.csv")
    assert spec.budget == 60 and spec.strategy.name == "bayesopt"
    assert spec.strategy.options == {"surrogate": "forest"}
    # the YAML's options stay with an overridden name, and must fit that strategy's options
    cfg.write_text(cfg.read_text().replace("surrogate: forest", "population: 5"))
    with pytest.raises(MatforgeError, match="strategy bayesopt: unknown option 'population'"):
        load_spec(cfg, strategy="bayesopt")
    assert [o.goal for o in spec.objectives] == ["range", "min"]
    assert spec.oracle.kind == "lookup" and spec.source.pool == "p.csv"
    with pytest.raises(MatforgeError):
        load_spec(cfg, batch_size=0)
    with pytest.raises(MatforgeError):
        load_spec(None, objectives=["x:max"], oracle="nonsense:abc")

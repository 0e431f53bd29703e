"""Training data for the composition generator tests: real Materials Project compositions
from the mp-transport set, which ships inside matminer, so the tests run the same with or
without the shared data. The conditioning property is the default campaign's objective,
log10 of the p-type power factor (uW/(cm K^2)); its mean is about 0.6, its std about 0.8."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

PROP = "log10_PF_p"


@pytest.fixture(scope="session")
def transport_train() -> pd.DataFrame:
    """The mp-transport train split (about 38,000 rows): formula and log10_PF_p."""
    from matforge.data import load_dataset

    frame = load_dataset("mp-transport", split="train")
    return frame.assign(**{PROP: np.log10(frame["PF_p"])})[["formula", PROP]]

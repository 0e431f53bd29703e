import pandas as pd
import pytest

from matforge.data import DATASETS, load_dataset
from matforge.data.download import download, sha256_of
from matforge.data.splits import formula_split
from matforge.errors import DataError


def test_embedded_transport_data_loads_offline():
    frame = load_dataset("mp-transport")
    assert len(frame) == 47737
    assert {"formula", "PF_p", "S_p", "m_p"} <= set(frame.columns)
    # "NaN" is sodium nitride and must survive CSV parsing as a formula
    assert frame["formula"].isna().sum() == 0


def test_hash_split_keeps_polymorphs_together_and_is_stable():
    frame = load_dataset("mp-transport")
    by_formula = frame.groupby("formula")["split"].nunique()
    assert (by_formula == 1).all()
    fractions = frame["split"].value_counts(normalize=True)
    assert 0.77 < fractions["train"] < 0.83 and 0.08 < fractions["test"] < 0.12
    labels = formula_split(pd.Series(["Fe2O3", "O3Fe2", "NaCl"]))
    assert labels[0] == labels[1]


def test_benchmark_sets_from_data_dir(shared_data):
    """The full shared sets: the published row counts."""
    val = load_dataset("perov-5", split="val")
    assert len(val) == 3787 and "cif" in val.columns
    train = load_dataset("mp-e-hull", split="train")
    assert "e_above_hull" in train.columns and len(train) == 39663
    assert "NaN" in set(train["formula"])
    castelli = load_dataset("matbench-castelli", split="train")
    assert "heat_of_formation" in castelli.columns


def test_each_layout_reads_from_a_data_dir(fixture_data):
    """Split files with CIFs, split files with renamed targets, and one file split by a
    formula hash, read through the registry from a folder laid out like the shared one."""
    val = fixture_data.load("perov-5", split="val")
    assert len(val) == 48 and {"formula", "cif", "heat_ref", "dir_gap"} <= set(val.columns)
    assert not any(c.startswith("Unnamed") for c in val.columns)
    train = fixture_data.load("mp-e-hull", split="train")
    assert list(train.columns) == ["formula", "e_above_hull"] and len(train) == 48
    assert "NaN" in set(train["formula"])  # sodium nitride, not a missing value
    every = fixture_data.load("mp-e-hull")
    assert every["split"].value_counts().to_dict() == {"train": 48, "val": 12, "test": 12}
    castelli = fixture_data.load("matbench-castelli")
    assert "heat_of_formation" in castelli.columns and len(castelli) == 48
    by_formula = castelli.groupby("formula")["split"].nunique()
    assert (by_formula == 1).all() and set(castelli["split"]) <= {"train", "val", "test"}
    part = fixture_data.load("matbench-castelli", split="val")
    assert set(part["formula"]) == set(castelli.loc[castelli["split"] == "val", "formula"])


def test_second_read_comes_from_parquet_cache(fixture_data, monkeypatch):
    first = fixture_data.load("perov-5", split="test")

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again instead of reading the parquet cache")

    monkeypatch.setattr("matforge.data.registry.read_csv_frame", no_parse)
    frame = fixture_data.load("perov-5", split="test")
    pd.testing.assert_frame_equal(frame, first)
    assert len(frame) == 12


def test_a_bad_row_in_a_benchmark_file_is_an_error_not_a_skip(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "compositions" / "mp_e_hull"
    folder.mkdir(parents=True)
    (folder / "train.csv").write_text("formula,target\nNaCl,0.0\nXx2O3,0.1\n")
    monkeypatch.setenv("MATFORGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MATFORGE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="row 2"):
        load_dataset("mp-e-hull", split="train")


def test_missing_benchmark_file_names_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MATFORGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MATFORGE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="MATFORGE_DATA_DIR"):
        load_dataset("mpts-52", split="test")


def test_unknown_dataset_lists_known_names():
    with pytest.raises(DataError, match="mp-transport"):
        load_dataset("no-such-set")


def test_download_verifies_checksum(tmp_path):
    src = tmp_path / "remote.csv"
    src.write_text("formula,target\nNaCl,1.0\n")
    good = sha256_of(src)
    dest = download(src.as_uri(), tmp_path / "cache" / "a.csv", sha256=good)
    assert dest.read_text() == src.read_text()
    with pytest.raises(DataError, match="checksum mismatch"):
        download(src.as_uri(), tmp_path / "cache" / "b.csv", sha256="0" * 64)
    assert not (tmp_path / "cache" / "b.csv").exists()


def test_every_registered_set_documents_itself():
    for spec in DATASETS.values():
        assert spec.description and spec.source and spec.license and spec.citation
        assert spec.kind in ("composition", "structure")

import pytest
from pymatgen.core import Lattice, Structure

from matforge.data import load_dataset
from matforge.data.readers import read_csv
from matforge.errors import DataError


def _nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_user_csv_with_formula_and_cif(tmp_path):
    path = tmp_path / "in.csv"
    import pandas as pd

    pd.DataFrame({"formula": ["NaCl", "Fe2O3"], "cif": [_nacl().to(fmt="cif"), None],
                  "y": [1.0, 2.0]}).to_csv(path, index=False)
    frame = load_dataset(path)
    assert list(frame["formula"]) == ["NaCl", "Fe2O3"]


@pytest.mark.parametrize("content, message", [
    ("formula,y\nNaCl,1\nXx2O,2\n", "row 2: unknown element|row 2: cannot parse"),
    ("", "empty"),
    ("formula,y\n", "no rows"),
    ("name,y\nNaCl,1\n", "needs a 'formula' or a 'cif' column"),
    ('formula,cif\nNaCl,"data_x\\n_cell_length_a 1\\n"\n', "row 1: malformed CIF"),
])
def test_bad_csv_gives_one_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_csv(path)
    assert str(path) in str(info.value)


def test_nan_property_and_missing_column(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("formula,y\nNaCl,1\nKCl,\n")
    with pytest.raises(DataError, match=r"row 2: column 'y' is not a number"):
        read_csv(path, numeric=["y"])
    with pytest.raises(DataError, match="missing column 'z'"):
        read_csv(path, numeric=["z"])


def test_cif_folder_and_extxyz(tmp_path):
    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "nacl.cif").write_text(_nacl().to(fmt="cif"))
    frame = load_dataset(folder)
    assert frame["formula"].tolist() == ["NaCl"]
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(_nacl())
    atoms.info["energy"] = -3.0
    write(tmp_path / "s.extxyz", [atoms, atoms], format="extxyz")
    frame = load_dataset(tmp_path / "s.extxyz")
    assert len(frame) == 2 and frame["energy"].tolist() == [-3.0, -3.0]

"""The registry of named data sets and `load_dataset`, the one way in for all data.

`load_dataset(name_or_path, split)` returns a DataFrame with a `formula` column, a `cif`
column for structure sets, and the set's property columns. Benchmark files are looked up in
the data directories (`MATFORGE_DATA_DIR`, then the download cache) and downloaded from their
public source when missing and online.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from matforge.data.cache import cached_frame
from matforge.data.download import download, sha256_of
from matforge.data.paths import data_dirs, download_dir
from matforge.data.readers import parse_formula, read_csv_frame, read_path
from matforge.data.splits import formula_split
from matforge.errors import DataError

CDVAE_URL = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/{folder}/{split}.csv"
DIFFCSP_URL = "https://raw.githubusercontent.com/jiaor17/DiffCSP/main/data/{folder}/{split}.csv"
CRABNET_URL = ("https://raw.githubusercontent.com/anthony-wang/CrabNet/master/data/"
               "benchmark_data/{folder}/{split}.csv")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    kind: str  # "composition" or "structure"
    properties: dict[str, str]  # column -> unit
    source: str
    license: str
    citation: str
    folder: str | None = None  # sub-folder of a data directory
    splits: tuple[str, ...] = ("train", "val", "test")
    file_splits: bool = True  # splits are separate files; else assigned by formula hash
    url: str | None = None  # pattern with {folder} and {split}
    sha256: dict[str, str] = field(default_factory=dict)  # split -> checksum of the public file
    rename: dict[str, str] = field(default_factory=dict)  # raw column -> our column
    loader: Callable[[DatasetSpec], pd.DataFrame] | None = None  # for sets not in files

    @property
    def columns(self) -> list[str]:
        base = ["formula"] + (["cif"] if self.kind == "structure" else [])
        return base + list(self.properties)


def _mp_transport(spec: DatasetSpec) -> pd.DataFrame:
    import matminer

    path = Path(matminer.__file__).parent / "utils/data_files/mp_transport/transport_database.tar.xz"
    if not path.exists():
        raise DataError("matminer does not ship the transport database here; "
                        "reinstall matminer (pip install matminer)", str(path))

    def parse() -> pd.DataFrame:
        with tarfile.open(path) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(".csv"))
            raw = tar.extractfile(member).read()
        frame = pd.read_csv(io.BytesIO(raw))
        # keep formulas literal: "NaN" is sodium nitride, not a missing value
        frame["pretty_formula"] = pd.read_csv(io.BytesIO(raw), usecols=["pretty_formula"],
                                              keep_default_na=False, dtype=str)["pretty_formula"]
        return frame.rename(columns={"pretty_formula": "formula", "mp_id": "material_id"})

    return cached_frame("mp-transport", [path], parse)


def _matbench_phonons(spec: DatasetSpec) -> pd.DataFrame:
    path = _find_file(spec, "matbench_phonons.json.gz")

    def parse() -> pd.DataFrame:
        import gzip
        import json

        from pymatgen.core import Structure

        with gzip.open(path, "rt") as fh:
            payload = json.load(fh)
        cols = payload["columns"]
        rows = []
        for i, values in enumerate(payload["data"]):
            rec = dict(zip(cols, values))
            s = Structure.from_dict(rec["structure"])
            rows.append({"material_id": f"phonons-{i}", "formula": s.composition.reduced_formula,
                         "cif": s.to(fmt="cif"), "last_phdos_peak": rec["last phdos peak"]})
        return pd.DataFrame(rows)

    return cached_frame("matbench-phonons", [path], parse)


_TRANSPORT_UNITS = {
    "S_p": "uV/K", "S_n": "uV/K",
    "sigma_p": "1/(Ohm m), tau = 1e-14 s", "sigma_n": "1/(Ohm m), tau = 1e-14 s",
    "kappa_p": "W/(m K), electronic, tau = 1e-14 s", "kappa_n": "W/(m K), electronic, tau = 1e-14 s",
    "PF_p": "uW/(cm K^2)", "PF_n": "uW/(cm K^2)",
    "m_p": "m_e (conductivity effective mass)", "m_n": "m_e (conductivity effective mass)",
}

_CDVAE_CITE = "Xie et al., Crystal Diffusion Variational Autoencoder, ICLR 2022 (CDVAE benchmark splits)"


def _composition_task(name: str, folder: str, prop: str, unit: str, desc: str, source: str,
                      url: str | None = CRABNET_URL, file_splits: bool = True,
                      license: str = "CC-BY-4.0 (Materials Project / OQMD / AFLOW terms apply)",
                      citation: str = "Wang et al., CrabNet, npj Comput. Mater. 7, 77 (2021)"
                      ) -> DatasetSpec:
    return DatasetSpec(
        name=name, description=desc, kind="composition", properties={prop: unit}, source=source,
        license=license, citation=citation, folder=f"compositions/{folder}", url=url,
        file_splits=file_splits, rename={"target": prop})


def _matbench_task(name: str, stem: str, prop: str, unit: str, desc: str) -> DatasetSpec:
    spec = _composition_task(
        name, "matbench", prop, unit, desc, source="Matbench v0.1 (Dunn et al. 2020)", url=None,
        file_splits=False, license="see the Matbench documentation for each source",
        citation="Dunn et al., npj Comput. Mater. 6, 138 (2020)")
    object.__setattr__(spec, "folder", f"compositions/matbench/{stem}.csv")
    return spec


DATASETS: dict[str, DatasetSpec] = {}


def _register(spec: DatasetSpec) -> None:
    DATASETS[spec.name] = spec


_register(DatasetSpec(
    name="mp-transport",
    description=("Materials Project transport database: 47,737 compounds with BoltzTraP "
                 "Seebeck coefficient, conductivity, power factor and effective masses at 300 K "
                 "and 1e20 cm^-3 doping. Ships inside matminer, so it works offline."),
    kind="composition", properties=_TRANSPORT_UNITS,
    source="matminer package (utils/data_files/mp_transport)", license="CC-BY-4.0",
    citation="Ricci et al., An ab initio electronic transport database for inorganic materials, "
             "Sci. Data 4, 170085 (2017)",
    file_splits=False, loader=_mp_transport))
_register(DatasetSpec(
    name="perov-5", description="ABX3 perovskites, 5 atoms per cell, DFT-relaxed (CDVAE Perov-5).",
    kind="structure", properties={"heat_ref": "eV/atom", "heat_all": "eV/atom",
                                  "dir_gap": "eV", "ind_gap": "eV"},
    source="CDVAE repository data/perov_5", license="CC-BY-4.0",
    citation="Castelli et al., Energy Environ. Sci. 5, 9034 (2012); " + _CDVAE_CITE,
    folder="perov_5", url=CDVAE_URL,
    sha256={"val": "326f401219901270374b71e2faff63df3a29a99fd26f469993b9f476b693daf2",
            "test": "a85878c685037f0a578257f6d4fcdde00e968dbab73c5f1e90ecef65218513f6"}))
_register(DatasetSpec(
    name="carbon-24", description="Carbon polymorphs, 6-24 atoms, AIRSS at 10 GPa (CDVAE Carbon-24).",
    kind="structure", properties={"energy_per_atom": "eV/atom"},
    source="CDVAE repository data/carbon_24", license="CC-BY-4.0",
    citation="Pickard, AIRSS data for carbon at 10 GPa, Materials Cloud (2020); " + _CDVAE_CITE,
    folder="carbon_24", url=CDVAE_URL,
    sha256={"val": "36c00689cd63073c954a58bc6ed6e2adb7aeed5a630c994970959a1babffd50e",
            "test": "386b17c08816f434818d51e46687bf72ff3f92348f3ba24823e4758f1fe8a969"}))
_register(DatasetSpec(
    name="mp-20", description="Materials Project structures with at most 20 atoms (CDVAE MP-20).",
    kind="structure", properties={"formation_energy_per_atom": "eV/atom", "band_gap": "eV",
                                  "e_above_hull": "eV/atom"},
    source="CDVAE repository data/mp_20", license="CC-BY-4.0",
    citation="Jain et al., APL Mater. 1, 011002 (2013); " + _CDVAE_CITE,
    folder="mp_20", url=CDVAE_URL))
_register(DatasetSpec(
    name="mpts-52", description="Materials Project time-split structures, up to 52 atoms (DiffCSP MPTS-52).",
    kind="structure", properties={"formation_energy_per_atom": "eV/atom", "band_gap": "eV",
                                  "e_above_hull": "eV/atom"},
    source="DiffCSP repository data/mpts_52", license="CC-BY-4.0",
    citation="Jiao et al., Crystal Structure Prediction by Joint Equivariant Diffusion, NeurIPS 2023",
    folder="mpts_52", url=DIFFCSP_URL))
_register(DatasetSpec(
    name="matbench-phonons", description="Materials Project structures with the last phonon DOS peak.",
    kind="structure", properties={"last_phdos_peak": "1/cm"},
    source="Matbench v0.1 matbench_phonons", license="CC-BY-4.0",
    citation="Dunn et al., npj Comput. Mater. 6, 138 (2020)", folder="matbench_phonons",
    file_splits=False, loader=_matbench_phonons))

for _name, _folder, _prop, _unit, _desc, _src in [
    ("mp-e-hull", "mp_e_hull", "e_above_hull", "eV/atom", "MP energy above the convex hull", "Materials Project"),
    ("mp-mu-b", "mp_mu_b", "magnetic_moment", "muB/cell", "MP magnetic moment per cell", "Materials Project"),
    ("mp-bulk-modulus", "mp_bulk_modulus", "bulk_modulus", "GPa", "MP bulk modulus (VRH)", "Materials Project"),
    ("mp-shear-modulus", "mp_shear_modulus", "shear_modulus", "GPa", "MP shear modulus (VRH)", "Materials Project"),
    ("mp-elastic-anisotropy", "mp_elastic_anisotropy", "elastic_anisotropy", "ratio", "MP elastic anisotropy", "Materials Project"),
    ("oqmd-bandgap", "OQMD_Bandgap", "band_gap", "eV", "OQMD DFT band gap", "OQMD"),
    ("aflow-egap", "aflow__Egap", "band_gap", "eV", "AFLOW band gap", "AFLOW"),
    ("aflow-bulk-modulus", "aflow__ael_bulk_modulus_vrh", "bulk_modulus", "GPa", "AFLOW AEL bulk modulus (VRH)", "AFLOW"),
    ("aflow-thermal-conductivity", "aflow__agl_thermal_conductivity_300K", "thermal_conductivity", "W/(m K)",
     "AFLOW AGL thermal conductivity at 300 K", "AFLOW"),
]:
    _register(_composition_task(_name, _folder, _prop, _unit, _desc + " (CrabNet benchmark split).",
                                source=f"{_src} via the CrabNet benchmark data"))

for _name, _stem, _prop, _unit, _desc in [
    ("matbench-expt-gap", "expt_gap", "band_gap", "eV", "Experimental band gaps (Zhuo et al. 2018)"),
    ("matbench-expt-is-metal", "expt_is_metal", "is_metal", "0/1", "Experimental metallicity"),
    ("matbench-castelli", "castelli", "heat_of_formation", "eV/atom",
     "Castelli cubic perovskites, heat of formation"),
    ("matbench-dielectric", "dielectric", "refractive_index", "1", "Refractive index (MP, Petousis et al.)"),
    ("matbench-glass", "glass", "gfa", "0/1", "Metallic glass forming ability"),
]:
    _register(_matbench_task(_name, _stem, _prop, _unit, _desc + "."))


def list_datasets() -> list[DatasetSpec]:
    return [DATASETS[k] for k in sorted(DATASETS)]


def dataset_info(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown data set {name!r}; known: {known}; or give a file path") from None


def _find_file(spec: DatasetSpec, filename: str, split: str | None = None) -> Path:
    """Look in each data directory for `<folder>/<filename>`; download if a URL is known."""
    relative = Path(spec.folder or spec.name) / filename if not (spec.folder or "").endswith(".csv") \
        else Path(spec.folder)
    for root in data_dirs():
        candidate = root / relative
        if candidate.exists():
            return candidate
    if spec.url and split is not None:
        dest = download_dir() / relative
        url = spec.url.format(folder=Path(spec.folder or spec.name).name, split=split)
        try:
            return download(url, dest, spec.sha256.get(split))
        except DataError as exc:
            raise DataError(
                f"{spec.name}: {relative} not found in {', '.join(map(str, data_dirs()))}, and the "
                f"download failed ({exc}). Put the file at $MATFORGE_DATA_DIR/{relative}") from None
    raise DataError(f"{spec.name}: {relative} not found; set MATFORGE_DATA_DIR to the folder that "
                    f"holds {relative} (searched: {', '.join(map(str, data_dirs()))})")


def _read_split_file(spec: DatasetSpec, split: str) -> pd.DataFrame:
    path = _find_file(spec, f"{split}.csv", split)
    expected = spec.sha256.get(split)
    if expected and path.stat().st_size > 0 and sha256_of(path) != expected:
        # A local copy that differs from the published file is used, but never silently.
        import warnings

        warnings.warn(f"{path} differs from the published {spec.name} {split} file", stacklevel=3)

    def parse() -> pd.DataFrame:
        frame = read_csv_frame(path)
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed")])
        frame = frame.rename(columns=spec.rename)
        if "formula" not in frame.columns and "cif" in frame.columns:
            from matforge.data.readers import parse_cif

            frame["formula"] = [parse_cif(c, str(path), i + 1).composition.reduced_formula
                                for i, c in enumerate(frame["cif"])]
        for i, formula in enumerate(frame["formula"]):
            parse_formula(formula, str(path), i + 1)
        return frame

    return cached_frame(f"{spec.name}-{split}", [path], parse, recipe=repr(sorted(spec.rename.items())))


def load_dataset(name_or_path: str | Path, split: str = "all") -> pd.DataFrame:
    """Load a registered data set (by name), a user file/folder (by path), or a Materials
    Project query ("mp:Li-Fe-O", "mp:mp-149,mp-13"; needs MP_API_KEY and mp-api).

    split: "train", "val", "test" or "all". Sets without published splits are split 80/10/10
    by a hash of the reduced formula (`matforge.data.splits.formula_split`), so the same
    composition never appears in two splits.
    """
    key = str(name_or_path)
    if key.startswith("mp:"):
        from matforge.data.materials_project import fetch_materials_project

        frame = fetch_materials_project(key[3:])
        frame.attrs["dataset"] = key
        return _select_split(frame, split, key) if split != "all" else frame
    if key not in DATASETS:
        path = Path(key).expanduser()
        if path.exists() or any(sep in key for sep in ("/", "\\")) or path.suffix:
            frame = read_path(path)
            frame.attrs["dataset"] = str(path)
            return _select_split(frame, split, key) if split != "all" else frame
        dataset_info(key)  # raises the unknown-name error
    spec = DATASETS[key]
    if split not in ("all",) + spec.splits:
        raise DataError(f"{spec.name}: unknown split {split!r}; use one of all, {', '.join(spec.splits)}")
    if spec.loader is not None or not spec.file_splits:
        frame = spec.loader(spec) if spec.loader is not None else _read_single_file(spec)
        frame = _select_split(frame, split, spec.name)
    elif split == "all":
        parts = []
        for s in spec.splits:
            try:
                part = _read_split_file(spec, s)
            except DataError:
                if s == "train" and spec.name in ("perov-5", "carbon-24"):
                    continue  # the published train split is optional; val and test suffice
                raise
            parts.append(part.assign(split=s))
        frame = pd.concat(parts, ignore_index=True)
    else:
        frame = _read_split_file(spec, split)
    frame.attrs["dataset"] = spec.name
    frame.attrs["split"] = split
    return frame


def _read_single_file(spec: DatasetSpec) -> pd.DataFrame:
    path = _find_file(spec, Path(spec.folder or "").name)

    def parse() -> pd.DataFrame:
        frame = read_csv_frame(path).rename(columns=spec.rename)
        for i, formula in enumerate(frame["formula"]):
            parse_formula(formula, str(path), i + 1)
        return frame

    return cached_frame(spec.name, [path], parse, recipe=repr(sorted(spec.rename.items())))


def _select_split(frame: pd.DataFrame, split: str, name: str) -> pd.DataFrame:
    labels = formula_split(frame["formula"], salt=name if name in DATASETS else "matforge")
    frame = frame.assign(split=labels)
    if split == "all":
        return frame
    return frame[frame["split"] == split].reset_index(drop=True)

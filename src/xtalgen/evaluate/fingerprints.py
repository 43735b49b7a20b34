"""Structure and composition fingerprints of CDVAE's coverage and diversity metrics, in parallel.

Structure: CrystalNN "ops" site fingerprints (matminer), averaged over the sites of a structure.
Symmetry-equivalent sites share one fingerprint, so each orbit (spglib at symprec 0.01) is
fingerprinted once and weighted by its multiplicity: MP-20's references are mostly high-symmetry,
and this halves the work of fingerprinting them.
Composition: Magpie ElementProperty features, standardized with CDVAE's published means and standard
deviations (``data/cdvae_composition_scaler.json``), so distances match CDVAE's cutoffs.
Reference sets are fingerprinted once and cached by the SHA-256 of their CIFs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import warnings
import zipfile
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from xtalgen.errors import InputError
from xtalgen.io import atomic_output, die_with_parent

if TYPE_CHECKING:
    from pathlib import Path

    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint
    from pymatgen.core import Structure

__all__ = [
    "Fingerprints",
    "composition_scaler",
    "fingerprint_cifs",
    "load_fingerprints",
    "load_or_fingerprint",
    "mean_site_fingerprint",
    "save_reference",
]

log = logging.getLogger(__name__)

VERSION = "crystalnn-ops-orbit-mean+magpie-v2"
SYMPREC = 0.01


class Fingerprints:
    """Row-aligned structure and (scaled) composition fingerprints; NaN rows failed."""

    def __init__(self, structure: np.ndarray, composition: np.ndarray) -> None:
        self.structure = structure
        self.composition = composition

    @property
    def ok(self) -> np.ndarray:
        """Rows with both fingerprints finite."""
        return np.isfinite(self.structure).all(axis=1) & np.isfinite(self.composition).all(axis=1)


@cache
def composition_scaler() -> tuple[np.ndarray, np.ndarray]:
    """CDVAE's CompScaler means and standard deviations of the 132 Magpie features."""
    text = resources.files("xtalgen.evaluate").joinpath("data/cdvae_composition_scaler.json").read_text()
    data = json.loads(text)
    return np.array(data["means"]), np.array(data["stds"])


@cache
def _featurizers():  # noqa: ANN202 - matminer objects
    from matminer.featurizers.composition.composite import ElementProperty  # noqa: PLC0415
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint  # noqa: PLC0415

    return CrystalNNFingerprint.from_preset("ops"), ElementProperty.from_preset("magpie")


def mean_site_fingerprint(structure: Structure, site_fp: CrystalNNFingerprint) -> np.ndarray:
    """The mean site fingerprint, one site per symmetry orbit; every site when spglib fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: PLC0415

    try:
        symmetrized = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_symmetrized_structure()
        orbits = symmetrized.equivalent_indices
    except Exception:  # spglib finds no cell for some generated structures: fingerprint them all
        orbits = [[i] for i in range(len(structure))]
    weights = np.array([len(orbit) for orbit in orbits], dtype=float)
    rows = np.array([site_fp.featurize(structure, orbit[0]) for orbit in orbits], dtype=float)
    return weights @ rows / weights.sum()


def _one(cif: str) -> tuple[list[float], list[float]]:
    from xtalgen.structures_io import parse_cif  # noqa: PLC0415

    site_fp, comp_fp = _featurizers()
    try:
        structure, _ = parse_cif(cif)  # a NaN or 1e9 Å cell is left out at once, not fingerprinted
        if structure is None:
            raise ValueError("unusable structure")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sites = mean_site_fingerprint(structure, site_fp)
            composition = comp_fp.featurize(structure.composition)
        return sites.tolist(), list(composition)
    except Exception:  # a structure CrystalNN cannot handle is left out, as CDVAE does
        return [float("nan")] * 61, [float("nan")] * 132


def fingerprint_cifs(cifs: list[str], workers: int = 1, desc: str = "fingerprints") -> Fingerprints:
    """Fingerprint every CIF; ``workers`` spawned processes share the work."""
    workers = max(1, min(workers, len(cifs)))
    if workers == 1:
        rows = [_one(c) for c in tqdm(cifs, desc=desc, mininterval=5)]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent) as pool:
            chunk = max(1, len(cifs) // (workers * 8))
            done = pool.map(_one, cifs, chunksize=chunk)
            rows = list(tqdm(done, total=len(cifs), desc=desc, mininterval=5))
    means, stds = composition_scaler()
    structure = np.array([r[0] for r in rows], dtype=float).reshape(len(rows), 61)
    composition = (np.array([r[1] for r in rows], dtype=float).reshape(len(rows), 132) - means) / stds
    return Fingerprints(structure, composition)


def _key(cifs: list[str]) -> str:
    digest = hashlib.sha256(VERSION.encode())
    for cif in cifs:
        digest.update(cif.encode())
    return digest.hexdigest()[:20]


def load_or_fingerprint(cifs: list[str], cache_dir: Path | None, workers: int, desc: str) -> Fingerprints:
    """Fingerprints of a reference set, from the cache when these exact CIFs were seen before."""
    key = _key(cifs)
    path = cache_dir / f"fingerprints-{key}.npz" if cache_dir else None
    if path is not None and path.is_file():
        try:
            cached = load_fingerprints(path, cifs)
        except (InputError, OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as err:
            # a torn or foreign entry (a crash mid-write, another machine's copy): rebuilt, not trusted
            log.warning("%s: cache entry unusable (%s); fingerprinting again", path, err)
        else:
            if cached.structure.shape[0] == len(cifs) == cached.composition.shape[0]:
                return cached
            log.warning(
                "%s: cache entry holds %d rows, not %d; fingerprinting again",
                path,
                len(cached.structure),
                len(cifs),
            )
    result = fingerprint_cifs(cifs, workers, desc)
    if path is not None:
        _save(result, key, path)
    return result


def _save(fingerprints: Fingerprints, key: str, path: Path) -> None:
    with atomic_output(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, structure=fingerprints.structure, composition=fingerprints.composition, key=key)


def load_fingerprints(path: Path, cifs: list[str] | None = None) -> Fingerprints:
    """Saved fingerprints; with ``cifs``, refused unless they were made from exactly those CIFs."""
    with np.load(path) as data:  # each array is read whole here, so zip's CRC check covers it
        if cifs is not None and str(data["key"]) != _key(cifs):
            raise InputError(f"{path}: fingerprints of other structures; delete it to recompute")
        return Fingerprints(data["structure"], data["composition"])


def save_reference(structures: Path, out: Path, workers: int, cache_dir: Path | None = None) -> int:
    """Fingerprint a reference table (``id, cif``) once, for every later evaluation.

    With ``cache_dir`` the same CIFs are fingerprinted once per machine, not once per run.
    """
    from xtalgen.structures_io import cif_table  # noqa: PLC0415

    cifs = list(cif_table(structures)["cif"])
    _save(load_or_fingerprint(cifs, cache_dir, workers, f"{structures.name} fingerprints"), _key(cifs), out)
    return len(cifs)

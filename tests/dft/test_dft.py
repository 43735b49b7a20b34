"""The DFT stage on real atomate2 flows, jobflow and FireWorks; VASP is atomate2's fake (a test double)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp import Incar

from xtalgen.cli import main
from xtalgen.dft.collect import collect, status_table, summarize
from xtalgen.dft.flows import DftSettings
from xtalgen.dft.prepare import prepare_flows
from xtalgen.dft.state import StateConfig, job_store
from xtalgen.dft.submit import submit
from xtalgen.errors import InputError
from xtalgen.hull.reference import load_hull
from xtalgen.prescreen.stage import build_hull_file
from xtalgen.structures_io import structure_sha
from xtalgen.testing import (
    SI_MP_GGA_REF_PATHS,
    SI_MP_GGA_STATIC_ENERGY,
    atomate2_vasp_reference,
    fake_vasp,
    shared_data_dir,
)

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def si() -> Structure:
    """The Si cell atomate2's reference MP GGA calculations started from."""
    return Structure.from_file(atomate2_vasp_reference() / "Si_mp_gga_relax/GGA_Relax_1/inputs/POSCAR.gz")


@pytest.fixture
def fe2o3() -> Structure:
    return Structure.from_spacegroup(
        "R-3c", Lattice.hexagonal(5.035, 13.75), ["Fe", "O"], [[0, 0, 0.3553], [0.3059, 0, 0.25]]
    ).get_primitive_structure()


@pytest.fixture(scope="module")
def hull_path(tmp_path_factory, pilot_dir) -> Path:
    out = tmp_path_factory.mktemp("hull") / "hull.json.gz"
    refs = shared_data_dir() / "hull_reference" / "2023-02-07-mp-elemental-reference-entries.json.gz"
    build_hull_file(out, dataset=[pilot_dir], elemental_refs=refs)
    return out


def _write_cifs(rows: list[tuple[str, Structure]], path: Path) -> Path:
    pd.DataFrame({"id": [i for i, _ in rows], "cif": [s.to(fmt="cif") for _, s in rows]}).to_csv(
        path, index=False
    )
    return path


def test_prepare_writes_mp_compatible_inputs_for_an_oxide(tmp_path, fe2o3):
    structures = _write_cifs([("fe2o3-1", fe2o3)], tmp_path / "candidates.csv")
    out = tmp_path / "dft"
    assert main(["dft", "prepare", "--structures", str(structures), "--out", str(out)]) == 0
    folder = out / pd.read_csv(out / "manifest.csv").loc[0, "folder"]
    assert folder.name.startswith("fe2o3-1-")  # a slug of the id, then a hash of id and structure
    inputs = folder / "inputs"
    assert sorted(p.name for p in inputs.iterdir()) == ["INCAR", "KPOINTS", "POSCAR", "POTCAR.spec"]
    incar = Incar.from_file(inputs / "INCAR")
    assert incar["LDAU"] is True
    u = dict(zip(Structure.from_file(inputs / "POSCAR").symbol_set, incar["LDAUU"], strict=False))
    assert incar["LDAUU"][0] == pytest.approx(5.3) and u
    assert incar["ENCUT"] == 520
    assert len(incar["MAGMOM"]) == len(fe2o3)
    assert (inputs / "POTCAR.spec").read_text().split() == ["Fe_pv", "O"]
    flow = json.loads((folder / "flow.json").read_text())
    assert flow["metadata"]["xtalgen"]["candidate_id"] == "fe2o3-1"
    manifest = pd.read_csv(out / "manifest.csv")
    assert manifest.loc[0, "static_job"] == "MP GGA static" and bool(manifest.loc[0, "ldau"])


def test_maker_and_incar_overrides_are_configurable(tmp_path, si):
    settings = DftSettings(
        maker="MPMetaGGADoubleRelaxStaticMaker", incar_overrides={"NCORE": 4}, vasp_cmd="srun vasp_std"
    )
    table = prepare_flows([("si-1", si, None)], tmp_path, settings)
    assert table.loc[0, "static_job"] == "MP meta-GGA static"
    folder = tmp_path / table.loc[0, "folder"]
    incar = Incar.from_file(folder / "inputs" / "INCAR")
    assert incar["NCORE"] == 4
    assert '"vasp_cmd": "srun vasp_std"' in (folder / "flow.json").read_text()
    # Another INCAR is another calculation of the same structure.
    plain = prepare_flows([("si-1", si, None)], tmp_path / "plain", DftSettings(maker=settings.maker))
    assert plain.loc[0, "key"] != table.loc[0, "key"]
    assert plain.loc[0, "structure_sha"] == table.loc[0, "structure_sha"]


def test_bad_settings_and_rows_name_what_to_fix(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"dft\.maker"):
        DftSettings(maker="NoSuchMaker")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["x1"], "cif": ["data_garbage\n_cell_length_a"]}).to_csv(bad, index=False)
    assert main(["dft", "prepare", "--structures", str(bad), "--out", str(tmp_path / "o")]) == 0
    assert "1 candidates not prepared" in capsys.readouterr().out
    manifest = pd.read_csv(tmp_path / "o" / "manifest.csv", keep_default_na=False)
    assert list(manifest["status"]) == ["failed"]  # listed with its reason, never dropped silently
    assert "unparseable CIF" in manifest["reason"].iloc[0]
    assert main(["dft", "status", "--state", str(tmp_path / "none")]) == 2
    assert "xtalgen dft submit" in capsys.readouterr().err


def test_local_backend_then_collection(tmp_path, si, fe2o3, hull_path):
    prepared, state = tmp_path / "prepared", tmp_path / "state"
    prepare_flows([("si-1", si, None), ("fe2o3-1", fe2o3, None)], prepared, DftSettings())
    # Fe2O3 gets the Si reference outputs too: fake VASP rejects its inputs, so its flow fails.
    with fake_vasp({**SI_MP_GGA_REF_PATHS}):
        submitted = submit(prepared, state, StateConfig("local"))
    assert list(submitted["action"]) == ["ran locally: completed", "ran locally: failed"]

    status = status_table(state).set_index("candidate_id")
    assert status.loc["si-1", "state"] == "completed"
    assert status.loc["fe2o3-1", "state"] == "failed"
    assert status.loc["fe2o3-1", "error"].startswith("ValueError: INCAR value of")
    assert "is inconsistent" in status.loc["fe2o3-1", "error"]

    table = collect(state, load_hull(hull_path)).set_index("candidate_id")
    assert table.loc["si-1", "energy_per_atom"] == pytest.approx(SI_MP_GGA_STATIC_ENERGY / 2)
    assert table.loc["si-1", "e_above_hull_dft"] == pytest.approx(0.0, abs=0.01)
    assert bool(table.loc["si-1", "metastable"])
    assert table.loc["fe2o3-1", "state"] == "failed"
    summary = summarize(table.reset_index(), n_samples=10)
    assert (summary["completed"], summary["failed"], summary["pending"]) == (1, 1, 0)
    assert summary["dft_stable_rate"] == summary["dft_stable"] / 10

    # A rerun submits nothing twice, and the store keeps one static calculation.
    with fake_vasp(SI_MP_GGA_REF_PATHS):
        again = submit(prepared, state, StateConfig("local"))
    assert set(again["action"]) == {"already submitted"}
    store = job_store(state)
    store.connect()
    assert store.count({"name": "MP GGA static"}) == 1
    store.close()

    # Collection never drops what it collected, even when the store loses it.
    shutil.rmtree(state / "jobstore")
    kept = collect(state, load_hull(hull_path)).set_index("candidate_id")
    assert kept.loc["si-1", "e_above_hull_dft"] == table.loc["si-1", "e_above_hull_dft"]


def _cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_fireworks_backend_with_rlaunch_then_collection(tmp_path, si, hull_path):
    structures = _write_cifs([("si-1", si)], tmp_path / "candidates.csv")
    prepared, state = tmp_path / "prepared", tmp_path / "state"
    env = {
        **os.environ,
        "MONGOMOCK_SERVERSTORE_FILE": str((state / "launchpad.json").resolve()),
        "XTALGEN_SHARED_DATA": str(shared_data_dir()),
    }
    xtalgen = ("-m", "xtalgen.cli", "dft")
    _cli(*xtalgen, "prepare", "--structures", str(structures), "--out", str(prepared), env=env, cwd=tmp_path)
    submit = (
        *xtalgen,
        "submit",
        "--prepared",
        str(prepared),
        "--state",
        str(state),
        "--backend",
        "fireworks",
    )
    out = _cli(*submit, env=env, cwd=tmp_path)
    assert "added to the LaunchPad as 3 fireworks" in out
    assert "pending 1" in _cli(*xtalgen, "status", "--state", str(state), env=env, cwd=tmp_path)

    launches = tmp_path / "launches"
    launches.mkdir()
    _cli(
        str(HERE / "fake_vasp_rlaunch.py"),
        "-l",
        str(state / "my_launchpad.yaml"),
        "rapidfire",
        env=env,
        cwd=launches,
    )
    assert "completed 1" in _cli(*xtalgen, "status", "--state", str(state), env=env, cwd=tmp_path)

    again = _cli(*submit, env=env, cwd=tmp_path)
    assert "already submitted" in again
    _cli(
        *xtalgen,
        "collect",
        "--state",
        str(state),
        "--hull",
        str(hull_path),
        "--out",
        str(tmp_path / "dft.csv"),
        "--summary",
        str(tmp_path / "dft.json"),
        "--generated",
        "4",
        env=env,
        cwd=tmp_path,
    )
    table = pd.read_csv(tmp_path / "dft.csv")
    assert table.loc[0, "state"] == "completed"
    assert table.loc[0, "e_above_hull_dft"] == pytest.approx(0.0, abs=0.01)
    summary = json.loads((tmp_path / "dft.json").read_text())
    assert summary["completed"] == 1 and summary["n_samples"] == 4
    pad = json.loads((state / "launchpad.json").read_text())
    assert len(pad["xtalgen"]["fireworks"]["documents"]) == 3


EVIL_IDS = ["../victim", "/abs/x", "a/b", "a_b", "", "x" * 300, ".hidden", "..", "a\\b"]


def test_ids_are_names_never_paths(tmp_path, si):
    """No id, however it is spelt, makes prepare or submit touch anything outside their folders."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    out = tmp_path / "dft"
    table = prepare_flows([(i, si, None) for i in EVIL_IDS], out, DftSettings())
    assert list(table["status"]) == ["prepared"] * len(EVIL_IDS)
    assert (victim / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dft", "victim"]
    folders = list(table["folder"])
    assert len(set(folders)) == len(folders), "ids that slug alike (a/b, a_b) must not share a folder"
    for name in folders:
        assert "/" not in name and not name.startswith(".") and len(name) <= 80
        assert (out / name / "flow.json").is_file()
    written = sorted(p.name for p in out.iterdir() if p.name != ".manifest.csv.lock")
    assert written == sorted([*folders, "manifest.csv"])
    # One structure under many ids is one submission: the key is the structure's, not the id's.
    assert table["key"].nunique() == 1


def test_an_edited_manifest_cannot_point_outside(tmp_path, si):
    prepared = tmp_path / "prepared"
    prepare_flows([("si-1", si, None)], prepared, DftSettings())
    manifest = pd.read_csv(prepared / "manifest.csv", keep_default_na=False)
    manifest.loc[0, "folder"] = "../elsewhere"
    manifest.to_csv(prepared / "manifest.csv", index=False)
    with pytest.raises(InputError, match="not a plain folder name"):
        submit(prepared, tmp_path / "state", StateConfig("local"))
    assert not (tmp_path / "elsewhere").exists()


def test_a_changed_structure_under_an_old_id_is_a_new_submission(tmp_path, si):
    """Ids are renumbered run to run: the new u-3 is not the old u-3, and is computed."""
    prepared, state = tmp_path / "prepared", tmp_path / "state"
    prepare_flows([("u-3", si, None)], prepared, DftSettings())
    with fake_vasp(SI_MP_GGA_REF_PATHS):
        first = submit(prepared, state, StateConfig("local"))
    assert list(first["action"]) == ["ran locally: completed"]
    strained = si.copy()
    strained.apply_strain(0.01)
    prepare_flows([("u-3", strained, None), ("renamed", si, None)], prepared, DftSettings())
    with fake_vasp(SI_MP_GGA_REF_PATHS):
        second = submit(prepared, state, StateConfig("local")).set_index("candidate_id")
    # The same structure under a new id is not computed again; the new structure is.
    assert second.loc["renamed", "action"] == "already submitted"
    assert second.loc["u-3", "action"] != "already submitted"
    shas = status_table(state)["structure_sha"]
    assert shas.nunique() == 2


def _candidates(path: Path, rows: list[tuple[str, str, Structure]]) -> Path:
    """A metastable.csv as the prescreen writes it: id, task, structure_sha, cif_relaxed."""
    table = pd.DataFrame(
        {
            "id": [i for i, _, _ in rows],
            "task": [t for _, t, _ in rows],
            "structure_sha": [structure_sha(s) for _, _, s in rows],
            "cif_relaxed": [s.to(fmt="cif") for _, _, s in rows],
        }
    )
    table.to_csv(path, index=False)
    return path


def test_a_rerun_with_new_samples_under_old_ids_reports_no_old_result(tmp_path, si, hull_path):
    """The DFT half as the workflow's scripts run it, twice: the second run's u-3 is another crystal."""
    from xtalgen.dft.stage import collect_files, prepare_files, submit_files  # noqa: PLC0415

    run = tmp_path / "results" / "dft"
    state = run / "state"
    settings = {"backend": "local"}
    structures = tmp_path / "structures.csv"

    def once(rows: list[tuple[str, str, Structure]]) -> tuple[pd.DataFrame, dict]:
        candidates = _candidates(tmp_path / "metastable.csv", rows)
        handed = {"id": [r[0] for r in rows], "cif": ["x"] * len(rows), "task": [r[1] for r in rows]}
        pd.DataFrame(handed).to_csv(structures, index=False)
        prepare_files(candidates, run / "prepared", run / "manifest.csv", settings)
        with fake_vasp(SI_MP_GGA_REF_PATHS):
            submitted = run / "submitted.csv"
            submit_files(run / "prepared", state, submitted, backend="local", store=None, launchpad=None)
        return collect_files(
            state, hull_path, structures, manifest=run / "manifest.csv", out_csv=run / "results.csv",
            out_summary=run / "summary.json",
        )  # fmt: skip

    # The control (the uniform baseline's swap, Si here too) is rated, never sent to DFT.
    first, summary = once([("u-3", "unconditional", si), ("b-1", "infill_uniform", si)])
    assert list(first["candidate_id"]) == ["u-3"]
    assert first.loc[0, "state"] == "completed"
    assert summary["candidates"] == 1 and summary["by_task"]["unconditional"]["dft_stable_rate"] is not None

    strained = si.copy()
    strained.apply_strain(0.02)
    second, summary = once([("u-3", "unconditional", strained), ("renamed", "unconditional", si)])
    table = second.set_index("candidate_id")
    # The new u-3 is a new submission, computed for itself (atomate2's fake VASP writes Si's outputs
    # for any input, so only the keys tell the calculations apart); the old u-3's result is reported
    # for its structure, now named "renamed", and is not computed again.
    actions = pd.read_csv(run / "submitted.csv").set_index("candidate_id")["action"]
    assert actions["renamed"] == "already submitted" and actions["u-3"] == "ran locally: completed"
    assert table.loc["u-3", "structure_sha"] == structure_sha(strained)
    assert table.loc["u-3", "key"] != table.loc["renamed", "key"] == first.loc[0, "key"]
    assert table.loc["renamed", "energy_per_atom"] == pytest.approx(first.loc[0, "energy_per_atom"])
    # This run's candidates only, per task, with the denominator named.
    assert summary["candidates"] == 2
    assert summary["by_task"]["unconditional"]["n_samples"] == 2
    assert "n_samples" in summary["definitions"]["dft_stable_rate"]
    # Nothing is computed twice: one static calculation per structure in the store.
    store = job_store(state)
    store.connect()
    assert store.count({"name": "MP GGA static"}) == 2
    store.close()
    # Every collection rates anew: another threshold, other verdicts, from the same entries.
    again, _ = collect_files(
        state, hull_path, structures, manifest=run / "manifest.csv", ehull_max=-1.0,
        out_csv=run / "results.csv", out_summary=run / "summary.json",
    )  # fmt: skip
    assert not again.set_index("candidate_id").loc["renamed", "metastable"]


def test_ids_and_hashes_that_look_like_numbers_stay_text(tmp_path, si):
    """An id 007 and a hash of sixteen decimal digits keep their leading zeros through every table."""
    from xtalgen.dft.prepare import read_candidates  # noqa: PLC0415
    from xtalgen.structures_io import cif_table  # noqa: PLC0415

    path = tmp_path / "metastable.csv"
    row = {
        "id": ["007"],
        "task": ["unconditional"],
        "source_id": ["0042"],
        "structure_sha": ["0123456789012345"],
    }
    pd.DataFrame(row | {"cif_relaxed": [si.to(fmt="cif")]}).to_csv(path, index=False)
    (candidate,) = read_candidates(path)
    assert (candidate.id, candidate.source_id, candidate.structure_sha) == ("007", "0042", "0123456789012345")
    table = prepare_flows([candidate], tmp_path / "prepared", DftSettings())
    manifest = pd.read_csv(tmp_path / "prepared" / "manifest.csv", dtype=str)
    assert manifest.loc[0, "structure_sha"] == table.loc[0, "structure_sha"] == "0123456789012345"
    pd.DataFrame({"id": ["007"], "cif": [si.to(fmt="cif")]}).to_csv(tmp_path / "s.csv", index=False)
    assert cif_table(tmp_path / "s.csv")["id"].tolist() == ["007"]

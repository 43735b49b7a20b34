"""Bad input and faults, as a new user meets them: one case per class, each through the real command.

Every case asserts the exit code, the message (one line naming the file, row, id or key), and that
the good rows of the same input were processed.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil
import pytest
from pymatgen.core import Lattice, Structure

from xtalgen.cli import main
from xtalgen.config_check import ConfigError, check_config, coerce_overrides
from xtalgen.io import atomic_output, output_lock
from xtalgen.prescreen.stage import build_hull_file
from xtalgen.testing import shared_data_dir

REPO = Path(__file__).resolve().parents[1]
MODEL = shared_data_dir() / "matgl_models" / "M3GNet-MP-2021.2.8-PES"
REFS = shared_data_dir() / "hull_reference" / "2023-02-07-mp-elemental-reference-entries.json.gz"


def nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def cscl() -> Structure:
    return Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def nan_cif() -> str:
    text = cscl().to(fmt="cif")
    return text.replace("_cell_length_a   4.12000000", "_cell_length_a   nan")


def huge_cif() -> str:
    return Structure(Lattice.cubic(1e9), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(fmt="cif")


def partial_cif() -> str:
    disordered = Structure(Lattice.cubic(4.12), [{"Cs": 0.5, "Rb": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return disordered.to(fmt="cif")


def po_cif() -> str:
    return Structure(Lattice.cubic(3.35), ["Po"], [[0, 0, 0]]).to(fmt="cif")


@pytest.fixture(scope="module")
def hull(tmp_path_factory, pilot_dir) -> Path:
    out = tmp_path_factory.mktemp("hull") / "hull.json.gz"
    build_hull_file(out, dataset=[pilot_dir / "test.csv.gz"], elemental_refs=REFS)
    return out


def _table(path: Path, rows: list[tuple[str, str]], gz: bool = False) -> Path:
    table = pd.DataFrame(rows, columns=["id", "cif"])
    if gz:
        with gzip.open(path, "wt") as handle:
            table.to_csv(handle, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def _truncated(path: Path, rows: list[tuple[str, str]]) -> Path:
    _table(path, rows, gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _mp20(path: Path, pilot_dir: Path, extra: list[dict]) -> Path:
    table = pd.read_csv(pilot_dir / "train.csv.gz").head(5)
    rows = [table.iloc[0].to_dict() | row for row in extra]
    pd.concat([table, pd.DataFrame(rows)], ignore_index=True).to_csv(path, index=False)
    return path


@dataclass
class Case:
    """One bad input: the command, the exit code, a message fragment, and what must still be there."""

    name: str
    argv: object  # (tmp, hull, pilot_dir) -> argv
    code: int
    message: str
    check: object = None  # (tmp) -> None, for the good rows

    def __repr__(self) -> str:
        return self.name


def _prescreen(tmp: Path, hull: Path, structures: Path, *more: str) -> list[str]:
    out = tmp / "results.csv"
    argv = ["prescreen", "run", "--structures", str(structures), "--hull", str(hull), "--model", str(MODEL)]
    return [*argv, "--out", str(out), "--workers", "1", *more]


def _prescreened(tmp: Path) -> None:
    results = pd.read_csv(tmp / "results.csv").set_index("id")
    assert results.loc["nacl", "status"] == "ok"
    assert results.loc["bad", "status"] == "skipped"
    assert "non-finite lattice" in results.loc["bad", "reason"]


def _evaluated(tmp: Path) -> None:
    import json  # noqa: PLC0415

    metrics = json.loads((tmp / "metrics.json").read_text())
    assert metrics["n_samples"] == 3 and metrics["n_parsed"] == 2
    assert any("non-finite lattice" in reason for reason in metrics["invalid_reasons"])


def _prepared(tmp: Path) -> None:
    manifest = pd.read_csv(tmp / "dft" / "manifest.csv", keep_default_na=False).set_index("candidate_id")
    assert manifest.loc["nacl", "status"] == "prepared"
    assert (tmp / "dft" / manifest.loc["nacl", "folder"] / "inputs" / "INCAR").is_file()
    bad = next(i for i in manifest.index if i != "nacl")
    assert manifest.loc[bad, "status"] == "failed" and manifest.loc[bad, "reason"]
    # No partial folder: only the prepared candidate's folder and the manifest are left.
    left = {p.name for p in (tmp / "dft").iterdir() if not p.name.startswith(".manifest")}
    assert left == {manifest.loc["nacl", "folder"], "manifest.csv"}
    assert not list((tmp / "dft").glob(".*.building"))


def _data_prepared(tmp: Path) -> None:
    rejects = pd.read_csv(tmp / "data" / "train" / "rejects.csv")
    assert len(rejects) == 2
    assert rejects["reason"].str.contains("non-finite lattice").any()
    assert rejects["reason"].str.contains("outside").any()  # the 1e9 Å cell, refused at once
    assert len(pd.read_csv(tmp / "data" / "train" / "structures.csv")) == 5


def _dft_argv(tmp: Path, structures: Path) -> list[str]:
    return ["dft", "prepare", "--structures", str(structures), "--out", str(tmp / "dft")]


def _eval_argv(tmp: Path, samples: Path, pilot_dir: Path) -> list[str]:
    test = tmp / "test.csv"
    pd.read_csv(pilot_dir / "test.csv.gz").head(10).to_csv(test, index=False)
    argv = ["evaluate", "metrics", "--samples", str(samples), "--train", str(test), "--test", str(test)]
    return [*argv, "--out", str(tmp / "metrics.json"), "--workers", "1", "--cache-dir", str(tmp / "cache")]


GOOD = [("nacl", nacl().to(fmt="cif")), ("cscl", cscl().to(fmt="cif"))]

CASES = [
    Case(
        "nan lattice: prescreen",
        lambda t, h, p: _prescreen(t, h, _table(t / "in.csv", [GOOD[0], ("bad", nan_cif())])),
        0,
        "",
        _prescreened,
    ),
    Case(
        "nan lattice: evaluate",
        lambda t, h, p: _eval_argv(t, _table(t / "s.csv", [*GOOD, ("bad", nan_cif())]), p),
        0,
        "",
        _evaluated,
    ),
    Case(
        "nan lattice: dft prepare",
        lambda t, h, p: _dft_argv(t, _table(t / "c.csv", [GOOD[0], ("bad", nan_cif())])),
        0,
        "1 candidates not prepared",
        _prepared,
    ),
    Case(
        "nan and huge lattices: data prepare",
        lambda t, h, p: (
            [
                "data",
                "prepare",
                "--dataset",
                str(_folder(t, p)),
                "--out",
                str(t / "data"),
                "--splits",
                "train",
            ]
        ),
        0,
        "",
        _data_prepared,
    ),
    Case(
        "no POTCAR for Po: dft prepare",
        lambda t, h, p: _dft_argv(t, _table(t / "c.csv", [GOOD[0], ("po", po_cif())])),
        0,
        "1 candidates not prepared",
        _prepared,
    ),
    Case(
        "duplicate ids: prescreen",
        lambda t, h, p: _prescreen(t, h, _table(t / "in.csv", [GOOD[0], ("nacl", GOOD[1][1])])),
        2,
        "ids must be unique",
    ),
    Case(
        "duplicate ids: dft prepare",
        lambda t, h, p: _dft_argv(t, _table(t / "c.csv", [GOOD[0], ("nacl", GOOD[1][1])])),
        2,
        "repeated: nacl",
    ),
    Case(
        "truncated gzip: prescreen",
        lambda t, h, p: _prescreen(t, h, _truncated(t / "in.csv.gz", GOOD * 50)),
        2,
        "truncated or corrupt gzip",
    ),
    Case(
        "truncated gzip: evaluate",
        lambda t, h, p: _eval_argv(t, _truncated(t / "s.csv.gz", GOOD * 50), p),
        2,
        "truncated or corrupt gzip",
    ),
    Case(
        "truncated gzip: dft prepare",
        lambda t, h, p: _dft_argv(t, _truncated(t / "c.csv.gz", GOOD * 50)),
        2,
        "truncated or corrupt gzip",
    ),
    Case(
        "wrong encoding: a CIF folder",
        lambda t, h, p: _dft_argv(t, _latin1_folder(t)),
        2,
        "not UTF-8 text",
    ),
    Case(
        "a folder where a file is expected",
        lambda t, h, p: _prescreen(t, h, _table(t / "in.csv", GOOD), "--hull", str(t)),
        2,
        "is a folder; expected a JSON(.gz) file",
    ),
    Case(
        "a file where a folder is expected",
        lambda t, h, p: [
            "data",
            "prepare",
            "--dataset",
            str(_table(t / "in.csv", GOOD)),
            "--out",
            str(t / "d"),
        ],
        2,
        "in.csv is not a folder",
    ),
    Case(
        "--out under a file",
        lambda t, h, p: _dft_argv(t / "in.csv", _table(t / "in.csv", GOOD)),
        2,
        "is a file, so the output cannot be written under it",
    ),
    Case(
        "--out is a folder: refused before any relaxation",
        lambda t, h, p: [*_prescreen(t, h, _table(t / "in.csv", GOOD))[:-4], "--out", str(t)],
        2,
        "is a folder; the output must be a file",
    ),
    Case(
        "missing model with two workers: one message",
        lambda t, h, p: [
            *_prescreen(t, h, _table(t / "in.csv", GOOD))[:-2],
            "--workers",
            "2",
            "--model",
            str(t / "no-model"),
        ],
        2,
        "is not a local folder",
    ),
    Case(
        "empty input: a valid, empty shard",
        lambda t, h, p: _prescreen(t, h, _table(t / "in.csv", [])),
        0,
        "0 structures",
        lambda t: pd.read_csv(t / "results.csv").empty or pytest.fail("rows from nothing"),
    ),
]


def _folder(tmp: Path, pilot_dir: Path) -> Path:
    folder = tmp / "mp20"
    folder.mkdir()
    _mp20(
        folder / "train.csv",
        pilot_dir,
        [{"material_id": "bad-nan", "cif": nan_cif()}, {"material_id": "bad-huge", "cif": huge_cif()}],
    )
    return folder


def _latin1_folder(tmp: Path) -> Path:
    folder = tmp / "cifs"
    folder.mkdir()
    (folder / "nacl.cif").write_text(GOOD[0][1])
    (folder / "bad.cif").write_bytes(("# caf\xe9\n" + GOOD[1][1]).encode("latin-1"))
    return folder


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, hull, pilot_dir, capsys):
    code = main(case.argv(tmp_path, hull, pilot_dir))
    captured = capsys.readouterr()
    assert code == case.code, captured.err[-2000:]
    if case.code:
        errors = [line for line in captured.err.splitlines() if line.startswith("xtalgen: error")]
        assert len(errors) == 1, captured.err  # one line, no traceback
        assert "Traceback" not in captured.err
        assert case.message in errors[0]
    else:
        assert case.message in captured.out
    if case.check:
        case.check(tmp_path)


def test_partial_occupancy_is_not_structurally_valid(tmp_path, pilot_dir, capsys):
    samples = _table(tmp_path / "s.csv", [*GOOD, ("alloy", partial_cif())])
    assert main(_eval_argv(tmp_path, samples, pilot_dir)) == 0
    import json  # noqa: PLC0415

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_parsed"] == 2
    assert any("partial occupancy" in reason for reason in metrics["invalid_reasons"])


def test_a_second_run_on_the_same_output_is_refused(tmp_path, hull, capsys):
    argv = _prescreen(tmp_path, hull, _table(tmp_path / "in.csv", GOOD))
    journal = tmp_path / "results.csv.journal.jsonl"
    with output_lock(journal):
        assert main(argv) == 2
    assert "another run (pid" in capsys.readouterr().err
    assert not (tmp_path / "results.csv").exists()


@pytest.mark.parametrize("command", ["data prepare", "tokenizer train", "hull build"])
def test_a_second_command_on_the_same_output_is_refused_naming_the_holder(
    command, tmp_path, pilot_dir, capsys
):
    out = tmp_path / "out"
    argv = {
        "data prepare": ["data", "prepare", "--dataset", str(pilot_dir), "--max-rows", "5"],
        "tokenizer train": ["tokenizer", "train", "--records", str(tmp_path / "prompts.jsonl")],
        "hull build": ["hull", "build", "--dataset", str(pilot_dir), "--elemental-refs", str(REFS)],
    }[command]
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
    with output_lock(out):  # the first run, still writing
        assert main([*argv, "--out", str(out)]) == 2
    assert f"another run (pid {os.getpid()})" in capsys.readouterr().err
    assert not out.exists()


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "out.csv") as tmp:
            tmp.write_text("a\n")
    finally:
        os.umask(old)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644


def test_config_overrides_take_the_schemas_types():
    schema = REPO / "config.schema.yaml"
    config = {
        "sample": {"temperature": "0.9", "elements": "null", "max_sites": "12"},
        "prescreen": {"keep_flagged": "true", "ehull_max": "0.05"},
    }
    coerce_overrides(config, schema)
    assert config == {
        "sample": {"temperature": 0.9, "elements": None, "max_sites": 12},
        "prescreen": {"keep_flagged": True, "ehull_max": 0.05},
    }
    with pytest.raises(ConfigError, match=r"prescreen\.ehull_max: nan is not a finite number"):
        check_config({"prescreen": {"ehull_max": float("nan")}})
    with pytest.raises(ConfigError, match=r"sample\.temperature: inf is not a finite number"):
        check_config({"sample": {"temperature": float("inf")}})


def test_snakemake_config_override_of_a_nested_number():
    env = os.environ | {"XTALGEN_SHARED_DATA": str(shared_data_dir())}
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-n",
        "--cores",
        "1",
        "--config",
        "sample={temperature: 0.9, max_sites: 12}",
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_workers_end_when_the_parent_is_killed(tmp_path, hull):
    structures = _table(tmp_path / "in.csv", [(f"s{i}", cscl().to(fmt="cif")) for i in range(8)])
    argv = [
        sys.executable,
        "-m",
        "xtalgen.cli",
        *_prescreen(tmp_path, hull, structures)[:-2],
        "--workers",
        "2",
    ]
    parent = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    children: list[psutil.Process] = []
    while time.monotonic() < deadline and len(children) < 2:
        time.sleep(0.5)
        children = _children(parent.pid)
    assert len(children) >= 2, "the workers never started"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"orphaned: {[p.pid for p in alive]}"

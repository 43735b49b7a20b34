from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xtalgen.cli import main


def test_data_prepare_writes_every_split(pilot_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    code = main(["data", "prepare", "--dataset", str(pilot_dir), "--out", str(out), "--max-rows", "40"])
    assert code == 0
    for split in ("train", "val", "test"):
        summary = json.loads((out / split / "summary.json").read_text())
        assert summary["structures"] == 40
    assert "train: 40 structures" in capsys.readouterr().out


def test_missing_dataset_folder_is_a_clear_error(tmp_path: Path, capsys):
    code = main(["data", "prepare", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "xtalgen: error:" in err and "data.local_dir" in err and "nope" in err


def test_no_network_is_a_clear_error(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("XTALGEN_OFFLINE", "1")
    code = main(["data", "prepare", "--url", "https://example.org/mp_20", "--out", str(tmp_path)])
    assert code == 2
    assert "--dataset" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "xtalgen.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("xtalgen ")


@pytest.mark.parametrize("argv", [["data"], ["data", "prepare"]])
def test_incomplete_commands_print_usage(argv: list[str], capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: xtalgen" in capsys.readouterr().err

"""The report's figures come from the stages' tables alone, and each says what it counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xtalgen.report.figures import (
    finetuning_loss_figure,
    gate_figure,
    plot_dft_ehull,
    plot_ehull,
    plot_throughput,
    plot_validity,
    pretraining_loss_figure,
)

PNG = b"\x89PNG"


@pytest.fixture
def training_log(tmp_path):
    table = pd.DataFrame(
        {"step": [1, 2, 3], "loss": [2.0, 1.5, 1.2], "lr": [1e-3] * 3, "val_loss": [np.nan, 1.6, np.nan]}
    )
    table.to_csv(tmp_path / "training_log.csv", index=False)
    return tmp_path


def test_loss_figures_read_the_training_log_and_the_adapter_record(training_log):
    assert pretraining_loss_figure(training_log, 920_000).read_bytes().startswith(PNG)
    (training_log / "adapter").mkdir()
    run = {"lora": {"r": 8}, "parameters": {"trainable": 1024, "total": 920_000}}
    (training_log / "adapter" / "xtalgen_run.json").write_text(json.dumps(run))
    assert finetuning_loss_figure(training_log).read_bytes().startswith(PNG)


def test_a_loss_figure_without_its_log_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"training_log\.csv"):
        pretraining_loss_figure(tmp_path, 10)


def test_the_ehull_histogram_takes_flagged_and_unrated_rows(tmp_path):
    results = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "status": ["ok", "ok", "failed", "ok"],
            "flag": ["", "far_below_hull", "", np.nan],
            "e_above_hull": [0.05, -0.6, np.nan, 3.0],
        }
    )
    plot_ehull(results, 0.1, tmp_path / "ehull.png")
    assert (tmp_path / "ehull.png").read_bytes().startswith(PNG)


def test_the_dft_histogram_says_when_nothing_finished(tmp_path):
    plot_dft_ehull(pd.DataFrame({"e_above_hull_dft": []}), tmp_path / "empty.png")
    plot_dft_ehull(pd.DataFrame({"e_above_hull_dft": [0.0, 0.2, np.nan]}), tmp_path / "some.png")
    assert (tmp_path / "empty.png").read_bytes().startswith(PNG)
    assert (tmp_path / "some.png").read_bytes().startswith(PNG)


def test_gate_throughput_and_validity_figures(tmp_path):
    assert gate_figure(None) is None
    errors = pd.DataFrame({"e_form_dft": [-1.0, -2.0], "e_form_model": [-1.1, -1.9], "error": [-0.1, 0.1]})
    draw = gate_figure(tmp_path / "gate.png")
    draw(errors, "M3GNet (auto aggregation)")
    assert (tmp_path / "gate.png").read_bytes().startswith(PNG)
    throughput = pd.DataFrame(
        {
            "shard": ["0"],
            "attempts": [8],
            "parsed": [7],
            "seconds": [2.0],
            "attempts_per_s": [4.0],
            "parsed_per_s": [3.5],
        }
    )
    plot_throughput(throughput, tmp_path / "throughput.png")
    plot_validity({"atoms 0.1 Å apart": 3}, 5, tmp_path / "validity.png")
    assert (tmp_path / "throughput.png").read_bytes().startswith(PNG)
    assert (tmp_path / "validity.png").read_bytes().startswith(PNG)

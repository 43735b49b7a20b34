"""Tokenizer, tiny base, LoRA and sharded sampling through Snakemake (tiny settings)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from xtalgen.lm.prompt_style import read_prompt_style
from xtalgen.lm.sampling import SAMPLE_COLUMNS
from xtalgen.lm.settings import TrainSettings
from xtalgen.structures_io import parse_cif
from xtalgen.text.prompts import cell_formula

pytestmark = pytest.mark.workflow


def test_language_model_stages_sample_parsed_crystals(tiny_run, workflow_in):
    wf = tiny_run.workflow

    def workflow(overrides):  # the same folder under changed settings
        return workflow_in(wf.workdir, overrides)

    results = wf.workdir / "results"
    assert (results / "model" / "tiny" / "model" / "config.json").is_file()
    assert (results / "finetune" / "adapter" / "adapter_config.json").is_file()
    log = pd.read_csv(results / "finetune" / "training_log.csv")
    assert log["step"].max() == 4
    assert log["val_loss"].notna().any()
    assert (results / "finetune" / "loss.png").stat().st_size > 0

    # The prompt style travels with the models, and sampling asks in it: under cell, each
    # conditional prompt states its test structure's own cell, as training did.
    style = read_prompt_style(results / "finetune" / "adapter")
    assert style == json.loads((results / "finetune" / "settings.json").read_text())["formula_style"]
    assert read_prompt_style(results / "model" / "tiny" / "model") == style
    assert f"in the {style} style" in (results / "logs" / "sample" / "plan_samples.log").read_text()

    # Long steps talk: a progress line at the first step and at least once a minute, in the rule's log.
    logs = results / "logs"
    assert "training steps (tiny): 1 of 10" in (logs / "model" / "pretrain_tiny.log").read_text()
    assert "training steps (finetune): 4 of 4" in (logs / "finetune" / "finetune.log").read_text()
    assert "samples parsed:" in (logs / "sample" / "shard_1-of-2.log").read_text()

    summary = json.loads((results / "sample" / "summary.json").read_text())
    assert summary["requests"] == 8  # 4 unconditional, 2 conditional, 2 infill
    assert set(summary["by_task"]) == {"unconditional", "conditional", "infill"}
    assert summary["parsed"] == 8  # the format constraint: every sample parses
    samples = pd.read_csv(results / "sample" / "samples.csv")
    assert list(samples.columns) == SAMPLE_COLUMNS
    shards = sorted((results / "sample" / "shards").glob("*.csv"))
    assert len(shards) == 2
    assert sum(len(pd.read_csv(p)) for p in shards) == len(samples)
    structures = pd.read_csv(results / "sample" / "structures.csv")
    assert (structures["task"] != "infill_uniform").sum() == 8
    assert (structures["task"] == "infill_uniform").sum() == 2  # the paper's baseline, one per infill
    baseline = pd.read_csv(results / "sample" / "infill_baseline.csv")
    assert set(baseline["id"]) == {f"b-{i}" for i in samples.loc[samples["task"] == "infill", "id"]}
    assert structures["cif"].str.contains("_cell_length_a").all()
    test = pd.read_csv(results / "data" / "test" / "structures.csv")
    cells = {str(i): cell_formula(parse_cif(c)[0]) for i, c in zip(test["id"], test["cif"], strict=True)}
    reduced = {str(i): str(f) for i, f in zip(test["id"], test["formula"], strict=True)}
    for row in samples[(samples["task"] == "conditional") & (samples["attempt"] == 1)].itertuples():
        asked = json.loads(row.conditions)["formula"]
        source = str(row.id)[2:].rsplit(".", 1)[0]
        assert asked == (cells[source] if style == "cell" else reduced[source]), row.id

    # A deleted sample shard is sampled again alone when its gather runs again (Snakemake remakes a
    # missing intermediate file only for a job that needs it).
    first, second = shards
    stamp = second.stat().st_mtime_ns
    first.unlink()
    rerun = wf.run("--until", "gather_samples", "--forcerun", "gather_samples")
    text = rerun.stdout + rerun.stderr
    assert text.count("rule sample_shard:") == 1
    assert "rule finetune:" not in text
    assert first.is_file() and second.stat().st_mtime_ns == stamp

    # A sampling setting reruns the sampling and what follows, never the training, and
    # Snakemake's own reports say which outputs are stale and why.
    hotter = workflow({"sample": {"temperature": 0.9}})  # the embedded default is 1.0
    changes = hotter.run("--list-changes", "params").stdout
    assert "sample/shards/1-of-2.csv" in changes
    assert "finetune/adapter" not in changes
    summary = hotter.run("--summary").stdout
    assert "sample/shards/1-of-2.csv" in summary and "params" in summary.lower()
    planned = hotter.run("-n")  # Snakemake 9 prints every job's reason in a dry run (no -r)
    text = planned.stdout + planned.stderr
    assert "rule sample_shard:" in text
    assert "rule gather_samples:" in text
    assert "rule prescreen_shard:" in text and "rule evaluate:" in text
    assert "rule finetune:" not in text
    assert "rule pretrain_tiny:" not in text
    assert "params" in text.lower()

    # A learning-rate schedule key reaches the pretraining settings and makes the base stale.
    held = workflow({"model": {"tiny": {"decay_fraction": 0.2}}})
    assert "model/tiny/model" in held.run("--list-changes", "params").stdout
    planned = held.run("-n", "--until", "pretrain_tiny")
    assert "rule pretrain_tiny:" in planned.stdout + planned.stderr
    assert TrainSettings.for_tiny_base({"steps": 100, "decay_fraction": 0.2}, 0).decay_fraction == 0.2
    heavier = workflow({"model": {"tiny": {"element_weight": 2.5}}})
    assert "model/tiny/model" in heavier.run("--list-changes", "params").stdout
    assert TrainSettings.for_tiny_base({"element_weight": 2.5}, 0).element_weight == 2.5


def test_offline_hub_model_is_named(workflow):
    wf = workflow({"model": {"base": "meta-llama/Llama-2-7b-hf"}})
    result = wf.run("--until", "finetune", check=False)
    assert result.returncode != 0
    log = (wf.workdir / "results" / "logs" / "finetune" / "finetune.log").read_text()
    assert "model.base" in log
    assert "HF_HUB_OFFLINE" in log

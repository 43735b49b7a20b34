"""The finetune stage's settings: built from the config, handed to the command as JSON, read back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from xtalgen.cli import main
from xtalgen.lm.settings import DrawSettings, FinetuneSettings, LoraSettings, TrainSettings

REPO = Path(__file__).resolve().parents[2]


def test_settings_read_the_finetune_data_and_model_sections():
    config = {
        "finetune": {
            "lora": {"r": 16, "target_modules": ["q_proj", "v_proj"]},
            "learning_rate": 1e-4,
            "grad_accum": 4,
            "val_records": None,
            "quantization": "4bit",
            "gpus": 2,
            "seed": 7,
            "draw": "per_use",
        },
        "data": {"infill_fraction": 0.5, "formula_style": "cell", "augment": {"translate": False}},
        "model": {"trust_remote_code": True},
    }
    settings = FinetuneSettings.from_config(config)
    assert settings.lora == LoraSettings(r=16, target_modules=("q_proj", "v_proj"))
    assert (settings.train.learning_rate, settings.train.grad_accum, settings.train.seed) == (1e-4, 4, 7)
    # Per-use draws take the data stage's task mix and the training seed.
    assert settings.draw == DrawSettings(seed=7, infill_fraction=0.5, translate=False, formula_style="cell")
    assert (settings.val_records, settings.quantization, settings.gpus) == (None, "4bit", 2)
    assert settings.trust_remote_code is True
    assert FinetuneSettings.from_json(settings.to_json()) == settings


def test_fixed_records_draw_nothing_and_an_empty_config_is_the_defaults():
    assert FinetuneSettings.from_config({"finetune": {"draw": "fixed"}}).draw is None
    assert FinetuneSettings.from_config({}) == FinetuneSettings()
    assert FinetuneSettings().train == TrainSettings()


def test_the_embedded_config_round_trips():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    settings = FinetuneSettings.from_config(config)
    assert settings.train.max_steps == config["finetune"]["max_steps"]
    assert json.loads(settings.to_json())["train"]["max_steps"] == config["finetune"]["max_steps"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("{not json", "not a FinetuneSettings JSON"), ('{"train": {}}', "not a")],
)
def test_a_bad_settings_file_names_the_flag(tmp_path: Path, capsys, content: str | None, message: str):
    path = tmp_path / "settings.json"
    if content is not None:
        path.write_text(content)
    records = tmp_path / "records.jsonl"
    records.write_text("")
    code = main(
        ["lora", "train", "--base", "none", "--records", str(records), "--out", str(tmp_path / "o"),
         "--settings", str(path)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert "--settings" in err and message in err


@pytest.mark.parametrize("config_file", ["config.yaml", "configs/paper.yaml"])
def test_the_settings_file_trains_as_the_flags_the_workflow_used_to_pass(config_file: str):
    """The workflow once spelled the finetune section out as flags; the JSON must say the same."""
    import argparse  # noqa: PLC0415

    from xtalgen.cli import build_parser  # noqa: PLC0415
    from xtalgen.cli.lm import _finetune_settings  # noqa: PLC0415

    schema = yaml.safe_load((REPO / "config.schema.yaml").read_text())

    def defaults(spec: dict) -> dict:
        fields = spec["properties"].items()
        return {k: defaults(v) if "properties" in v else v.get("default") for k, v in fields}

    def merged(base: dict, over: dict) -> dict:
        out = dict(base)
        for key, value in base.items():
            out[key] = merged(value, over.get(key) or {}) if isinstance(value, dict) else over.get(key, value)
        return out

    config = merged(defaults(schema), yaml.safe_load((REPO / config_file).read_text()))
    ft, lora, data = config["finetune"], config["finetune"]["lora"], config["data"]
    options = {
        "--lora-r": lora["r"], "--lora-alpha": lora["alpha"], "--lora-dropout": lora["dropout"],
        "--lr": ft["learning_rate"], "--warmup-steps": ft["warmup_steps"], "--epochs": ft["epochs"],
        "--max-steps": ft["max_steps"], "--batch-size": ft["batch_size"], "--grad-accum": ft["grad_accum"],
        "--max-length": ft["max_length"], "--eval-steps": ft["eval_steps"], "--save-steps": ft["save_steps"],
        "--precision": ft["precision"], "--quantization": ft["quantization"], "--seed": ft["seed"],
        "--infill-fraction": data["infill_fraction"], "--formula-style": data["formula_style"],
    }  # fmt: skip
    flags = ["lora", "train", "--base", "b", "--structures", "s.csv", "--out", "o"]
    flags += [x for k, v in options.items() for x in (k, str(v))]
    flags += ["--target-modules", *lora["target_modules"]]
    switches = {
        "--completion-only": ft["completion_only"],
        "--gradient-checkpointing": ft["gradient_checkpointing"],
        "--trust-remote-code": config["model"]["trust_remote_code"],
        "--no-translate": not data["augment"]["translate"],
    }
    flags += [flag for flag, on in switches.items() if on]
    if ft["val_records"] is not None:
        flags += ["--val-limit", str(ft["val_records"])]
    args = build_parser().parse_args(flags)
    assert isinstance(args, argparse.Namespace)
    from_flags = _finetune_settings(args)
    from_config = FinetuneSettings.from_config(config)
    # GPUs are the launcher's business, never a flag of the command it launches.
    assert from_flags == dataclasses.replace(from_config, gpus=0)

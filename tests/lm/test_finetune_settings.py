"""The finetune stage's settings: built from the config, handed to the command as JSON, read back."""

from __future__ import annotations

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

"""The shipped configurations are valid and say what they claim."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from xtalgen.cli.data import MP20_URL
from xtalgen.dataset.sources import CDVAE_MP20_URL

REPO = Path(__file__).resolve().parents[1]


def _merged(*files: str) -> dict:
    def merge(base: dict, extra: dict) -> dict:
        out = dict(base)
        for key, value in extra.items():
            out[key] = (
                merge(base[key], value)
                if isinstance(value, dict) and isinstance(base.get(key), dict)
                else value
            )
        return out

    config: dict = {}
    for name in files:
        config = merge(config, yaml.safe_load((REPO / name).read_text()))
    return config


def test_embedded_and_paper_configs_follow_the_schema():
    schema = yaml.safe_load((REPO / "config.schema.yaml").read_text())
    jsonschema.validate(_merged("config.yaml"), schema)
    jsonschema.validate(_merged("config.yaml", "configs/paper.yaml"), schema)


def test_paper_config_has_the_papers_settings():
    paper = _merged("config.yaml", "configs/paper.yaml")
    assert "Llama-2-7b" in paper["model"]["base"]
    assert (paper["finetune"]["lora"]["r"], paper["finetune"]["lora"]["alpha"]) == (8, 32)
    assert paper["finetune"]["learning_rate"] == 5e-4
    assert paper["finetune"]["lora"]["target_modules"] == ["q_proj", "v_proj"]  # the paper's code
    ft = paper["finetune"]
    assert ft["batch_size"] * ft["grad_accum"] * ft["gpus"] == 256 and ft["epochs"] == 65  # 7B
    assert paper["sample"]["unconditional"] == 10_000
    assert (paper["sample"]["temperature"], paper["sample"]["top_p"]) == (0.7, 0.9)
    assert paper["prescreen"]["ehull_max"] == 0.1
    assert paper["dft"]["backend"] == "fireworks"
    assert paper["finetune"]["gpus"] >= 1 and paper["sample"]["gpus"] >= 1


def test_cli_help_names_the_same_mp20_url_as_the_loader():
    assert MP20_URL == CDVAE_MP20_URL


def test_readme_setup_command_makes_profile_slurm_resolvable(tmp_path):
    readme = (REPO / "README.md").read_text()
    command = next(line for line in readme.splitlines() if "cp -r profiles/slurm" in line)
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("XDG_CONFIG_HOME", None)
    subprocess.run(["bash", "-c", command], cwd=REPO, env=env, check=True)
    installed = tmp_path / ".config" / "snakemake" / "slurm" / "config.yaml"
    assert installed.read_text() == (REPO / "profiles" / "slurm" / "config.yaml").read_text()
    snakemake = Path(sys.executable).parent / "snakemake"
    done = subprocess.run(
        [
            str(snakemake),
            "--profile",
            "slurm",
            "-n",
            "--quiet",
            "rules",
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "config.yaml"),
            "--snakefile",
            str(REPO / "Snakefile"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "finetune" in done.stdout

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
    assert paper["sample"]["batch_size"] == 512  # the paper's; fitted to GPU memory at run time
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


# Every schema key a stage's settings dataclass carries, and the field that carries it: the schema's
# default is the default of a run with no config, the field's that of the library and the CLI.
SETTINGS_FIELDS = {
    "data.seed": [
        ("xtalgen.dataset.prepare", "PrepareSettings", "seed"),
        ("xtalgen.lm.draws", "DrawSettings", "seed"),
    ],
    "data.augment.copies": [("xtalgen.dataset.prepare", "PrepareSettings", "copies")],
    "data.augment.translate": [
        ("xtalgen.dataset.prepare", "PrepareSettings", "translate"),
        ("xtalgen.lm.draws", "DrawSettings", "translate"),
    ],
    "data.augment.splits": [("xtalgen.dataset.prepare", "PrepareSettings", "augment_splits")],
    "data.infill_fraction": [
        ("xtalgen.dataset.prepare", "PrepareSettings", "infill_fraction"),
        ("xtalgen.lm.draws", "DrawSettings", "infill_fraction"),
    ],
    "data.formula_style": [
        ("xtalgen.dataset.prepare", "PrepareSettings", "formula_style"),
        ("xtalgen.lm.draws", "DrawSettings", "formula_style"),
    ],
    "data.strict": [("xtalgen.dataset.prepare", "PrepareSettings", "strict")],
    "data.max_rows": [("xtalgen.dataset.prepare", "PrepareSettings", "max_rows")],
    **{
        f"model.tiny.{name}": [("xtalgen.lm.tiny", "TinyModelSettings", name)]
        for name in ("vocab_size", "hidden_size", "layers", "heads", "intermediate_size")
    },
    "model.tiny.element_weight": [
        ("xtalgen.lm.training", "TrainSettings", "element_weight"),
        ("xtalgen.lm.settings", "TinyPretrainSettings", "element_weight"),
    ],
    "model.tiny.decay_fraction": [
        ("xtalgen.lm.training", "TrainSettings", "decay_fraction"),
        ("xtalgen.lm.settings", "TinyPretrainSettings", "decay_fraction"),
    ],
    **{
        f"model.tiny.{name}": [("xtalgen.lm.settings", "TinyPretrainSettings", name)]
        for name in ("steps", "batch_size", "learning_rate")
    },
    "model.trust_remote_code": [("xtalgen.lm.settings", "FinetuneSettings", "trust_remote_code")],
    **{
        f"finetune.{name}": [("xtalgen.lm.settings", "FinetuneSettings", name)]
        for name in ("val_records", "quantization", "gpus")
    },
    **{
        f"finetune.lora.{name}": [("xtalgen.lm.lora", "LoraSettings", field)]
        for name, field in (
            ("r", "r"),
            ("alpha", "alpha"),
            ("dropout", "dropout"),
            ("target_modules", "target_modules"),
        )
    },
    **{
        f"finetune.{name}": [("xtalgen.lm.training", "TrainSettings", name)]
        for name in (
            "learning_rate",
            "warmup_steps",
            "epochs",
            "max_steps",
            "batch_size",
            "grad_accum",
            "max_length",
            "eval_steps",
            "save_steps",
            "seed",
            "precision",
            "gradient_checkpointing",
            "completion_only",
        )
    },
    **{
        f"sample.{name}": [("xtalgen.lm.sampling", "SampleSettings", name)]
        for name in (
            "temperature",
            "top_p",
            "max_new_tokens",
            "batch_size",
            "max_attempts",
            "seed",
            "constraint",
            "elements",
            "max_sites",
            "element_temperature",
        )
    },
    **{
        f"prescreen.{name}": [("xtalgen.prescreen.shard", "PrescreenSettings", name)]
        for name in ("aggregation", "min_sites", "max_sites", "workers")
    },
    **{
        f"prescreen.{name}": [("xtalgen.prescreen.relax", "RelaxSettings", name)]
        for name in ("fmax", "steps", "max_seconds")
    },
    "prescreen.max_below_hull": [("xtalgen.hull.flags", "RatingSettings", "max_below_hull")],
    "prescreen.model": [("xtalgen.prescreen.settings", "PrescreenSettings", "model")],
    **{
        f"prescreen.{name}": [("xtalgen.prescreen.settings", "GateSettings", name)]
        for name in ("validation_size", "max_model_error")
    },
    **{
        f"prescreen.{name}": [("xtalgen.prescreen.settings", "SelectionSettings", name)]
        for name in ("ehull_max", "keep_flagged", "keep_unconverged")
    },
    **{
        f"hull.{name}": [("xtalgen.hull.settings", "HullSettings", name)]
        for name in ("reference", "elemental_refs", "dataset", "entries", "entries_checksum", "cache_dir")
    },
    **{
        f"dft.{name}": [("xtalgen.dft.flows", "DftSettings", name)]
        for name in (
            "backend",
            "maker",
            "incar_overrides",
            "vasp_cmd",
            "potcar_dir",
            "max_candidates",
            "include_controls",
        )
    },
    **{
        f"evaluate.{name}": [("xtalgen.evaluate.settings", "EvaluateSettings", name)]
        for name in ("ehull_tolerance", "ipt_structures", "ipt_translations")
    },
}

# Keys only the workflow reads, so no stage's settings hold them: where the inputs and outputs are
# (paths, tables, URLs), how the DAG is cut (shards, which tasks and how many samples), and what a
# cluster job asks for (cores, memory, wall time, GPUs).
WORKFLOW_KEYS = {
    "results",
    "data.local_dir",
    "data.url",
    "data.sha256",
    "data.cache_dir",
    "data.splits",
    "model.base",
    "model.tiny.extra_data",
    "model.tiny.pretrain_tasks",
    "finetune.draw",
    "sample.unconditional",
    "sample.conditional.table",
    "sample.conditional.per_row",
    "sample.conditional.max_rows",
    "sample.conditional.formula_elements",
    "sample.infill.structures",
    "sample.infill.per_row",
    "sample.infill.max_rows",
    "sample.infill.swap_table",
    "sample.shards",
    "sample.formula_style",
    "sample.gpus",
    "prescreen.structures",
    "prescreen.max_structures",
    "prescreen.all_unconditional",
    "prescreen.shards",
    "prescreen.threads",
    "prescreen.runtime",
    "prescreen.mem_mb",
    "dft.store",
    "dft.launchpad",
    "dft.threads",
    "dft.runtime",
    "dft.mem_mb",
    "evaluate.known",
}


def _schema_keys(spec: dict, prefix: str = "") -> list[str]:
    keys = []
    for name, sub in spec.get("properties", {}).items():
        keys += _schema_keys(sub, f"{prefix}{name}.") if "properties" in sub else [prefix + name]
    return keys


def test_every_config_key_belongs_to_a_stage_settings_or_to_the_workflow():
    """A new key either gets its settings field (and this test's table) or is the workflow's alone."""
    keys = _schema_keys(yaml.safe_load((REPO / "config.schema.yaml").read_text()))
    orphans = [k for k in keys if k not in SETTINGS_FIELDS and k not in WORKFLOW_KEYS]
    both = sorted(set(SETTINGS_FIELDS) & WORKFLOW_KEYS)
    assert not orphans, f"keys with neither a settings field nor a place in WORKFLOW_KEYS: {orphans}"
    assert not both
    assert not (WORKFLOW_KEYS - set(keys)), "WORKFLOW_KEYS names keys the schema no longer has"


def _schema_default(schema: dict, key: str):
    spec = schema
    for part in key.split("."):
        spec = spec["properties"][part]
    return spec["default"]


def _field_default(module: str, cls: str, name: str):
    import dataclasses  # noqa: PLC0415
    import importlib  # noqa: PLC0415

    field = {f.name: f for f in dataclasses.fields(getattr(importlib.import_module(module), cls))}[name]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def _same(a, b) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return list(a) == list(b)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


def test_the_schema_defaults_are_the_settings_dataclasses_defaults():
    schema = yaml.safe_load((REPO / "config.schema.yaml").read_text())
    differ = []
    for key, fields in SETTINGS_FIELDS.items():
        default = _schema_default(schema, key)
        for module, cls, name in fields:
            value = _field_default(module, cls, name)
            if not _same(default, value):
                differ.append(f"{key}: schema {default!r}, {cls}.{name} {value!r}")
    assert not differ, "\n".join(differ)


def test_the_embedded_config_sets_only_what_it_changes():
    """config.yaml lists the embedded run's changes: no key there repeats the schema's default."""
    schema = yaml.safe_load((REPO / "config.schema.yaml").read_text())
    text = (REPO / "config.yaml").read_text()

    def repeats(node: dict, spec: dict, prefix: str = "") -> list[str]:
        found = []
        for key, value in node.items():
            sub = spec["properties"][key]
            if isinstance(value, dict) and "properties" in sub:
                found += repeats(value, sub, f"{prefix}{key}.")
            elif "default" in sub and _same(value, sub["default"]):
                found.append(prefix + key)
        return found

    assert repeats(yaml.safe_load(text), schema) == []
    # Each setting sits under a comment that gives its reason; one comment may explain a block of
    # settings, up to the next section.
    explained, previous_comment = False, False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("-"):
            continue
        if stripped.startswith("#"):
            explained = previous_comment = True
            continue
        if stripped.endswith(":"):
            explained = previous_comment
        else:
            assert explained, f"config.yaml line {number} has no reason above it: {stripped}"
        previous_comment = False


def _schema_section(schema: dict, name: str) -> dict:
    """The section as Snakemake's validate fills it from the schema's defaults alone."""

    def fill(spec: dict) -> dict:
        out = {}
        for key, sub in spec["properties"].items():
            out[key] = (
                fill(sub) if sub.get("type") == "object" and "properties" in sub else sub.get("default")
            )
        return out

    return fill(schema["properties"][name])


def test_each_stage_builds_its_settings_from_its_config_section_and_back():
    from xtalgen.dataset.settings import PrepareSettings  # noqa: PLC0415
    from xtalgen.lm.settings import SampleSettings  # noqa: PLC0415
    from xtalgen.prescreen.settings import PrescreenSettings, RelaxSettings  # noqa: PLC0415

    schema = yaml.safe_load((REPO / "config.schema.yaml").read_text())
    data = _schema_section(schema, "data")  # infill_fraction 0.3333333333 against 1/3: equal to 1e-9
    built, default = PrepareSettings.from_config(data), PrepareSettings()
    assert all(_same(getattr(built, f), getattr(default, f)) for f in default.__dataclass_fields__)
    assert PrepareSettings.from_config({}) == PrepareSettings()
    changed = PrepareSettings.from_config({"augment": {"copies": 3, "splits": ["train", "val"]}, "seed": 7})
    assert (changed.copies, changed.augment_splits, changed.seed) == (3, ("train", "val"), 7)
    assert PrepareSettings.from_config(changed.config_values()) == changed

    sample = _schema_section(schema, "sample")
    assert SampleSettings.from_config(sample) == SampleSettings()
    hot = SampleSettings.from_config({"temperature": 1.0, "elements": ["Li", "O"]})
    assert hot.elements == ("Li", "O")
    assert SampleSettings.from_config(hot.config_values()) == hot

    prescreen = {**_schema_section(schema, "prescreen"), "model": "m3gnet"}
    assert PrescreenSettings.from_config(prescreen) == PrescreenSettings(model="m3gnet")
    tight = PrescreenSettings.from_config({"model": "m", "fmax": 0.05, "max_sites": 12})
    assert tight.relax == RelaxSettings(fmax=0.05) and tight.max_sites == 12
    assert PrescreenSettings.from_config(tight.config_values()) == tight

# Input functions and paths shared by every stage. Each stage's settings build themselves from its
# config section (xtalgen.<stage>.settings); the rules hand them to the scripts as params.
import os
from pathlib import Path

from xtalgen.dataset.settings import PrepareSettings
from xtalgen.lm.settings import SampleSettings
from xtalgen.prescreen.settings import PrescreenSettings

# Tests, CI and the embedded config find the shared data through this variable.
os.environ.setdefault(
    "XTALGEN_SHARED_DATA", str((Path(workflow.basedir) / ".." / "shared" / "data").resolve())
)

RESULTS = config["results"]
SPLITS = config["data"]["splits"]
TRAIN_SPLIT = "train" if "train" in SPLITS else SPLITS[0]
TEST_SPLIT = "test" if "test" in SPLITS else SPLITS[-1]
VAL_SPLIT = "val" if "val" in SPLITS else TRAIN_SPLIT


def config_path(key):
    """A path from config key `key` (dotted), with ~ and $VARS expanded; None stays None."""
    value = config
    for part in key.split("."):
        value = value[part]
    if value is None:
        return None
    expanded = os.path.expanduser(os.path.expandvars(str(value)))
    if "$" in expanded:
        raise WorkflowError(
            f"config key {key}: {value!r} names an environment variable that is not set"
        )
    return Path(expanded)


def dataset_file(split):
    """The local CSV of a split when data.local_dir is set (Snakemake then tracks its date)."""
    from xtalgen.dataset.sources import DatasetUnavailableError, find_split_file

    local_dir = config_path("data.local_dir")
    if local_dir is None:
        return []
    if not local_dir.is_dir():
        raise WorkflowError(
            f"config key data.local_dir: {local_dir} is not a folder. Set it to a folder holding "
            "train/val/test CSV(.gz) files, or to null to download from data.url"
        )
    try:
        return str(find_split_file(local_dir, split))
    except DatasetUnavailableError as err:
        raise WorkflowError(f"config key data.local_dir: {err}") from None


def all_outputs():
    """Final targets: everything the landed stages produce."""
    data = expand(
        f"{RESULTS}/data/{{split}}/{{name}}",
        split=SPLITS,
        name=["structures.csv", "prompts.jsonl", "rejects.csv", "summary.json"],
    )
    prescreen = expand(
        f"{RESULTS}/prescreen/{{name}}",
        name=[
            "results.csv",
            "metastable.csv",
            "flagged.csv",
            "hull.json",
            "summary.json",
            "e_above_hull.png",
            "model_check.png",
        ],
    )
    lm = [
        f"{RESULTS}/finetune/loss.png",
        f"{RESULTS}/sample/samples.csv",
        f"{RESULTS}/sample/summary.json",
    ]
    lm.append(f"{RESULTS}/report/sampling_throughput.png")
    if BRING_YOUR_OWN:
        lm = []
    elif config["model"]["base"] == "tiny":
        lm.append(f"{RESULTS}/model/tiny/loss.png")
    dft = [f"{RESULTS}/dft/manifest.csv"]
    if config["dft"]["backend"] != "prepare":
        dft += [f"{RESULTS}/dft/results.csv", f"{RESULTS}/dft/e_above_hull_dft.png"]
    audit = [
        f"{RESULTS}/evaluate/metrics.json",
        f"{RESULTS}/report/manifest.json",
        f"{RESULTS}/report/candidates",
        f"{RESULTS}/report/validity.png",
        f"{RESULTS}/report/metrics_vs_paper.csv",
    ]
    audit += expand(
        f"{RESULTS}/report/tables/{{name}}.html", name=["metrics", "candidates", "dft", "costs", "manifest"]
    )
    return data + lm + prescreen + dft + audit


# Bring your own structures: prescreen.structures set skips the language-model half entirely, and
# the same DAG prescreens, verifies and evaluates another generator's output.
BRING_YOUR_OWN = config["prescreen"]["structures"] is not None


def evaluate_samples():
    """What the evaluation rates: the sampled crystals, or the structures brought in."""
    return prescreen_structures() if BRING_YOUR_OWN else f"{RESULTS}/sample/samples.csv"


def known_structures():
    """What novelty is measured against: evaluate.known, else every split of the run.

    The training split also comes alone, with its fingerprints, for the paper's two novelties
    (against training structures); the other splits are read by StructureMatcher only, so they are
    never fingerprinted.
    """
    listed = config["evaluate"]["known"]
    train = {
        "train": f"{RESULTS}/data/{TRAIN_SPLIT}/structures.csv",
        "train_reference": f"{RESULTS}/evaluate/reference/{TRAIN_SPLIT}.npz",
    }
    if listed is None:
        splits = list(dict.fromkeys([TRAIN_SPLIT, VAL_SPLIT, TEST_SPLIT, *SPLITS]))
        return train | {"known": expand(f"{RESULTS}/data/{{split}}/structures.csv", split=splits)}
    paths = []
    for index, value in enumerate(listed):
        path = Path(_expanded(value))
        if "$" in str(path) or not path.exists():
            raise WorkflowError(
                f"config key evaluate.known[{index}]: {value!r} does not exist; give CSV files with a "
                "cif column or CIF folders, or null for the train and validation splits"
            )
        paths.append(str(path))
    return train | {"known": paths}


def lora_log_input(wildcards):
    """The fine-tuning log for the landing page, unless the run brings its own structures."""
    return {} if BRING_YOUR_OWN else {"lora_log": f"{RESULTS}/finetune/training_log.csv"}


def ipt_on():
    return config["evaluate"]["ipt_structures"] > 0 and not BRING_YOUR_OWN


def ipt_inputs(wildcards):
    return {
        "adapter": f"{RESULTS}/finetune/adapter",
        "base": base_model_input(),
        "structures": f"{RESULTS}/data/{VAL_SPLIT}/structures.csv",
    }


def evaluate_inputs(wildcards):
    """The samples, what the run knows, the test split, and every rating of the samples."""
    inputs = {
        "samples": evaluate_samples(),
        "test": f"{RESULTS}/data/{TEST_SPLIT}/structures.csv",
        "reference": f"{RESULTS}/evaluate/reference/{TEST_SPLIT}.npz",
        "prescreen": f"{RESULTS}/prescreen/results.csv",
        "dft": dft_results(),
        "baseline": infill_baseline(),
        **known_structures(),
        **seen_structures(),
    }
    if ipt_on():
        inputs["ipt"] = f"{RESULTS}/evaluate/ipt.json"
    return inputs


def path_setting(key):
    """A path setting as text, with ~ and $VARS expanded, or None."""
    path = config_path(key)
    return None if path is None else str(path)


def provenance_inputs():
    """Every file the run read from outside results/, for the manifest's checksums."""
    found = [dataset_file(split) for split in SPLITS]
    found += [elemental_refs_input(), potential_model_input()]
    if config["model"]["base"] != "tiny":
        found.append(base_model_input())
    if config_path("prescreen.structures") is not None:
        found.append(str(config_path("prescreen.structures")))
    reference = config["hull"]["reference"]
    if reference == "entries":
        found += list(hull_inputs(None).values())  # a URL is checked by its checksum instead
    elif reference == "dataset" and config["hull"]["dataset"] is not None:
        found += hull_dataset()
    return [str(p) for p in found if p]


def by_attempt(base):
    """A memory or runtime request that grows with each retry, for jobs killed at their limit."""
    return lambda wildcards, attempt: base * attempt


# Ledger, job store, embedded LaunchPad and run folders of the DFT stage; never an output.
DFT_STATE = f"{RESULTS}/dft/state"


def dft_results():
    """The collected DFT table, for evaluation, once a backend actually computes energies."""
    if config["dft"]["backend"] == "prepare":
        return []
    return f"{RESULTS}/dft/results.csv"


def _expanded(value):
    return os.path.expanduser(os.path.expandvars(str(value)))


def elemental_refs_input():
    """The elemental references as a tracked input when local; a URL is fetched by the job."""
    value = config["hull"]["elemental_refs"]
    if value is None:
        raise WorkflowError(
            "config key hull.elemental_refs: the accuracy gate and the dataset hull need MP's "
            "elemental reference entries; set a path or URL"
        )
    if value.startswith(("http://", "https://")):
        return []
    path = config_path("hull.elemental_refs")
    if not path.is_file():
        raise WorkflowError(f"config key hull.elemental_refs: {path} is not a file; give a path or URL")
    return str(path)


def potential_model():
    """prescreen.model with $VARS expanded: a folder, or a name matgl loads online."""
    return _expanded(config["prescreen"]["model"])


def potential_model_input():
    model = Path(potential_model())
    if model.is_dir():
        return str(model)
    if os.sep in str(config["prescreen"]["model"]):
        raise WorkflowError(
            f"config key prescreen.model: {model} is not a folder; give a matgl model folder "
            "or a model name such as M3GNet-MP-2021.2.8-PES"
        )
    return []


def gate_inputs(wildcards):
    return {
        "dataset": f"{RESULTS}/data/{TRAIN_SPLIT}/structures.csv",
        "refs": elemental_refs_input(),
        "model": potential_model_input(),
    }


def prescreen_structures():
    """The structures the prescreen rates: prescreen.structures, else the sampled structures."""
    if config["prescreen"]["structures"] is not None:
        path = config_path("prescreen.structures")
        if not path.exists():
            raise WorkflowError(
                f"config key prescreen.structures: {path} does not exist; give a CSV with a cif "
                "column, a folder of CIFs or an extxyz file"
            )
        return str(path)
    return f"{RESULTS}/sample/structures.csv"


def hull_inputs(wildcards):
    reference = config["hull"]["reference"]
    if reference == "entries":
        entries = config["hull"]["entries"]
        if entries is None:
            raise WorkflowError(
                "config key hull.entries: hull.reference is entries, so hull.entries must name a "
                "JSON(.gz) file of MP ComputedStructureEntries, a path or a URL"
            )
        if entries.startswith(("http://", "https://")):
            from xtalgen.dataset.sources import cache_path, default_cache_dir, offline

            cache = config_path("hull.cache_dir") or default_cache_dir()
            if offline() and not cache_path(entries, cache).is_file():
                raise WorkflowError(
                    f"config key hull.entries: offline (XTALGEN_OFFLINE or HF_HUB_OFFLINE is set) and "
                    f"{entries} is not in the cache {cache}: download it where there is network, or "
                    "set hull.entries to a local copy"
                )
            return {}  # fetched by the job into hull.cache_dir, checked against hull.entries_checksum
        path = config_path("hull.entries")
        if not path.is_file():
            raise WorkflowError(f"config key hull.entries: {path} is not a file; give a path or a URL")
        return {"entries": str(path)}
    if reference == "mp_api":
        return {"structures": prescreen_structures()}
    return {"dataset": hull_dataset(), "refs": elemental_refs_input()}


def hull_dataset():
    """The dataset hull's rows: hull.dataset's folders and CSV files, else this run's splits."""
    listed = config["hull"]["dataset"]
    if listed is None:
        return expand(f"{RESULTS}/data/{{split}}/structures.csv", split=SPLITS)
    paths = []
    for index, value in enumerate(listed):
        path = Path(_expanded(value))
        if "$" in str(path) or not path.exists():
            raise WorkflowError(
                f"config key hull.dataset[{index}]: {value!r} is not a folder or file; give dataset "
                "folders or MP-20-style CSV files, or null for this run's splits"
            )
        paths.append(str(path))
    return paths


def shard_inputs(wildcards):
    return {
        "shard": f"{RESULTS}/prescreen/shards/{wildcards.scatteritem}.csv",
        "gate": f"{RESULTS}/prescreen/model_check.json",
        "model": potential_model_input(),
    }


def base_model():
    """The base model the adapter is trained on: the tiny model built here, a folder, or a hub id."""
    base = config["model"]["base"]
    if base == "tiny":
        return f"{RESULTS}/model/tiny/model"
    return _expanded(base)


def base_model_input():
    base = config["model"]["base"]
    if base == "tiny":
        return f"{RESULTS}/model/tiny/model"
    from xtalgen.lm.base import looks_like_path

    path = Path(_expanded(base))
    if path.is_dir():
        return str(path)
    if looks_like_path(base):
        raise WorkflowError(
            f"config key model.base: {path} is not a folder; give a model folder, a Hugging Face "
            "hub id, or tiny"
        )
    return []


def tiny_extra_data():
    """model.tiny.extra_data as paths, each checked to exist (only a tiny base uses them)."""
    if config["model"]["base"] != "tiny":
        return []
    paths = []
    for index, value in enumerate(config["model"]["tiny"]["extra_data"]):
        path = Path(_expanded(value))
        if "$" in str(path) or not path.is_file():
            raise WorkflowError(
                f"config key model.tiny.extra_data[{index}]: {value!r} is not a file; give MP-20-style "
                "CSV files (material_id, cif, ...), or [] to pretrain on the training split alone"
            )
        paths.append(str(path))
    return paths


def pretraining_records():
    """The tiny base's corpus when it has extra rows, else the training split's records."""
    if tiny_extra_data():
        return f"{RESULTS}/model/corpus/prompts.jsonl"
    return f"{RESULTS}/data/{TRAIN_SPLIT}/prompts.jsonl"


def seen_structures():
    """More structures the run knows, matched by StructureMatcher only: the tiny base's corpus, and
    the dataset hull's rows (hull.dataset), whose phases are known materials too."""
    paths = [f"{RESULTS}/model/corpus/structures.csv"] if tiny_extra_data() else []
    if config["hull"]["reference"] == "dataset" and config["hull"]["dataset"] is not None:
        for listed in hull_dataset():
            path = Path(listed)
            paths += sorted(str(p) for p in path.glob("*.csv*")) if path.is_dir() else [listed]
    return {"seen": paths} if paths else {}


def finetune_inputs(wildcards):
    """Structures to draw from per use (finetune.draw: per_use), or the pre-drawn records."""
    per_use = config["finetune"]["draw"] == "per_use"
    return {
        "train": f"{RESULTS}/data/{TRAIN_SPLIT}/{'structures.csv' if per_use else 'prompts.jsonl'}",
        "val": f"{RESULTS}/data/{VAL_SPLIT}/prompts.jsonl",
        "base": base_model_input(),
    }


def _table_or_test_split(key):
    if config["sample"][key.split(".")[0]][key.split(".")[1]] is None:
        return f"{RESULTS}/data/{TEST_SPLIT}/structures.csv"
    path = config_path(f"sample.{key}")
    if not path.is_file():
        raise WorkflowError(f"config key sample.{key}: {path} is not a file")
    return str(path)


def plan_inputs(wildcards):
    # The adapter says how its training prompts stated formulas.
    inputs = {"adapter": f"{RESULTS}/finetune/adapter"}
    if config["sample"]["conditional"]["per_row"]:
        inputs["conditions"] = _table_or_test_split("conditional.table")
    if config["sample"]["infill"]["per_row"]:
        inputs["infill"] = _table_or_test_split("infill.structures")
    return inputs


def infill_on():
    return bool(config["sample"]["infill"]["per_row"])


def gather_inputs(wildcards):
    """The shards' samples, and the uniform infill baseline whenever infill sampling is on."""
    inputs = {"shards": gather.sample(f"{RESULTS}/sample/shards/{{scatteritem}}.csv")}
    if infill_on():
        inputs["baseline"] = f"{RESULTS}/sample/infill_baseline.csv"
    return inputs


def infill_baseline():
    """The baseline samples for evaluation, or nothing when infill is off or structures are brought."""
    return f"{RESULTS}/sample/infill_baseline.csv" if infill_on() and not BRING_YOUR_OWN else []


def sample_shard_inputs(wildcards):
    return {
        "requests": f"{RESULTS}/sample/requests/{wildcards.scatteritem}.jsonl",
        "adapter": f"{RESULTS}/finetune/adapter",
        "base": base_model_input(),
    }

"""Tokenizer, tiny base, LoRA and sampling, with real (tiny) transformers models and no mocks."""

from __future__ import annotations

import json
import logging
import re
import shutil
import time

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Composition, Element, Structure

from xtalgen.cli import main
from xtalgen.dataset.prepare import PrepareSettings, prepare_split
from xtalgen.dataset.sources import find_split_file
from xtalgen.lm.base import BaseModelUnavailableError, ModelSpec, load_base_model, load_tokenizer
from xtalgen.lm.constraints import AngleGuard, crystal_regex
from xtalgen.lm.infill import swap_table, uniform_baseline
from xtalgen.lm.lora import LoraSettings, adapter_folder, finetune, load_adapted, merge_adapter
from xtalgen.lm.perplexity import ipt
from xtalgen.lm.records import CompletionDataset, read_records
from xtalgen.lm.sampling import (
    SampleSettings,
    conditional_requests,
    infill_requests,
    sample,
    unconditional_requests,
)
from xtalgen.lm.tiny import TinyModelSettings, pretrain_tiny
from xtalgen.lm.tokenizer import train_tokenizer
from xtalgen.lm.training import TrainSettings
from xtalgen.report.figures import pretraining_loss_figure
from xtalgen.text.codec import CrystalParseError, decode
from xtalgen.text.prompts import CONDITION_KEYS

SHAPE = TinyModelSettings(hidden_size=64, layers=2, heads=2, intermediate_size=128)
QUICK = TrainSettings(
    learning_rate=3e-3,
    warmup_steps=2,
    max_steps=30,
    batch_size=16,
    eval_steps=15,
    save_steps=15,
    logging_steps=3,
)


@pytest.fixture(scope="session")
def records(tmp_path_factory, pilot_dir):
    out = tmp_path_factory.mktemp("data")
    settings = PrepareSettings(max_rows=200)
    for split in ("train", "val"):
        prepare_split(find_split_file(pilot_dir, split), split, out / split, settings)
    return {split: read_records(out / split / "prompts.jsonl") for split in ("train", "val")}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, records):
    out = tmp_path_factory.mktemp("tiny")
    texts = [r["prompt"] + r["completion"] for r in records["train"]]
    train_tokenizer(texts, out / "tokenizer", 400)
    pretrain_tiny(
        out / "tokenizer",
        records["train"],
        records["val"][:32],
        out,
        model_settings=SHAPE,
        train_settings=QUICK,
    )
    return out


@pytest.fixture(scope="session")
def adapter(tmp_path_factory, tiny, records):
    out = tmp_path_factory.mktemp("lora")
    settings = TrainSettings(max_steps=6, batch_size=8, eval_steps=3, save_steps=3, logging_steps=1)
    finetune(
        ModelSpec(str(tiny / "model")),
        records["train"],
        records["val"][:16],
        out,
        lora=LoraSettings(),
        settings=settings,
    )
    return out


@pytest.fixture(scope="session")
def adapted(tiny, adapter):
    model = load_adapted(ModelSpec(str(tiny / "model")), adapter / "adapter")
    return model, load_tokenizer(str(adapter / "adapter"))


def test_every_digit_is_its_own_token(tiny):
    tokenizer = load_tokenizer(str(tiny / "model"))
    text = "12.5 7.3 10.0\n90 120 90\nNa\n0.25 0.50 0.75"
    pieces = tokenizer.convert_tokens_to_string
    tokens = [pieces([t]) for t in tokenizer.tokenize(text)]
    assert "".join(tokens) == text
    for token in tokens:
        assert not any(ch.isdigit() for ch in token) or len(token.strip()) == 1


def test_a_formula_reads_as_the_tokens_of_its_element_lines(tiny):
    """Copying a formula into the crystal needs the same token for "Mn" in both places."""
    tokenizer = load_tokenizer(str(tiny / "model"))
    prompt = tokenizer.tokenize("The chemical formula is LiMnO2. The band gap is 0.5. ")
    crystal = tokenizer.tokenize("3.0 3.0 3.0\n90 90 90\nLi\n0.00 0.00 0.00\nMn\n0.50 0.50 0.50\nO\n")

    def holds(tokens: list[str], pieces: list[str]) -> bool:
        return any(tokens[i : i + len(pieces)] == pieces for i in range(len(tokens)))

    for element in ("Li", "Mn", "O"):
        pieces = tokenizer.tokenize(element)  # one token where the corpus merged it, else its letters
        assert holds(prompt, pieces)
        assert holds(crystal, pieces)
    assert not any(token.startswith("Ġ") and token[1:2].isupper() for token in prompt)
    assert "".join(tokenizer.convert_tokens_to_string([t]) for t in prompt).startswith("The chemical")


def test_pretraining_lowers_the_loss(tiny):
    log = pd.read_csv(tiny / "training_log.csv")
    losses = log["loss"].dropna()
    assert losses.iloc[-1] < 0.6 * losses.iloc[0]
    assert log["val_loss"].notna().sum() >= 2
    assert not (tiny / "loss.png").exists()  # the stage draws nothing; the report draws its table
    figure = pretraining_loss_figure(tiny, 12345)
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_completion_only_masks_the_prompt(tiny, records):
    tokenizer = load_tokenizer(str(tiny / "model"))
    record = records["train"][0]
    full = CompletionDataset([record], tokenizer, 1024)[0]
    masked = CompletionDataset([record], tokenizer, 1024, completion_only=True)[0]
    prompt_len = 1 + len(tokenizer(record["prompt"], add_special_tokens=False)["input_ids"])
    assert masked["labels"][:prompt_len] == [-100] * prompt_len
    assert masked["labels"][prompt_len:] == full["labels"][prompt_len:]
    assert full["labels"] == full["input_ids"]


def test_adapter_saves_reloads_and_merges(tiny, adapter, adapted, tmp_path):
    model, tokenizer = adapted
    assert (adapter / "adapter" / "adapter_config.json").is_file()
    run = json.loads((adapter / "adapter" / "xtalgen_run.json").read_text())
    assert run["lora"]["r"] == 8
    assert run["lora"]["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    merged = merge_adapter(ModelSpec(str(tiny / "model")), adapter / "adapter", tmp_path / "merged")
    reloaded = load_base_model(ModelSpec(str(tmp_path / "merged")))
    ids = tokenizer("Below is a description", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model(ids).logits
        assert torch.allclose(merged(ids).logits, expected, atol=1e-4)
        assert torch.allclose(reloaded(ids).logits, expected, atol=1e-4)
        base = load_base_model(ModelSpec(str(tiny / "model")))
        assert not torch.allclose(base(ids).logits, expected, atol=1e-6)  # the adapter learned something


def test_a_rerun_resumes_from_the_last_checkpoint(tiny, records, tmp_path, caplog):
    spec = ModelSpec(str(tiny / "model"))
    settings = TrainSettings(max_steps=6, batch_size=8, eval_steps=100, save_steps=3, logging_steps=1)
    args = (spec, records["train"], None, tmp_path)
    finetune(*args, lora=LoraSettings(), settings=settings)
    # A crash after step 3: the last checkpoint and the adapter never got written.
    for path in (tmp_path / "checkpoints" / "checkpoint-6", tmp_path / "adapter"):
        shutil.rmtree(path)
    caplog.set_level(logging.INFO, logger="xtalgen.lm.training")
    finetune(*args, lora=LoraSettings(), settings=settings)
    assert "checkpoint-3" in caplog.text
    state = json.loads((tmp_path / "checkpoints" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    table = pd.read_csv(tmp_path / "training_log.csv")
    assert list(table["step"]) == [1, 2, 3, 4, 5, 6]  # steps 1-3 come from the first run's state
    # Other settings never resume a foreign checkpoint.
    caplog.clear()
    other = TrainSettings(max_steps=2, batch_size=8, eval_steps=100, save_steps=1, logging_steps=1, seed=1)
    finetune(*args, lora=LoraSettings(), settings=other)
    assert "discarding checkpoints" in caplog.text


def test_a_decay_fraction_holds_the_peak_rate_then_decays(tiny, records, tmp_path):
    settings = TrainSettings(
        learning_rate=2e-3,
        warmup_steps=2,
        max_steps=12,
        batch_size=8,
        eval_steps=100,
        save_steps=100,
        logging_steps=1,
        decay_fraction=0.25,
    )
    pretrain_tiny(
        tiny / "tokenizer",
        records["train"][:64],
        None,
        tmp_path,
        model_settings=SHAPE,
        train_settings=settings,
    )
    lr = pd.read_csv(tmp_path / "training_log.csv").set_index("step")["lr"]
    # Steps 3-9 at the peak, the last 3 of 12 decaying by cosine.
    assert lr.loc[3:9].tolist() == pytest.approx([2e-3] * 7)
    assert lr.loc[10] > lr.loc[11] > lr.loc[12]
    assert lr.loc[12] < 0.3 * lr.loc[9]
    # The default decays by cosine over the whole run.
    assert TrainSettings(max_steps=12).scheduler() == ("cosine", {})


@pytest.mark.parametrize(
    ("fraction", "steps", "message"),
    [
        (0.0, 100, "decay_fraction must be in"),
        (1.5, 100, "decay_fraction must be in"),
        (0.2, -1, "--max-steps"),
    ],
)
def test_a_bad_decay_fraction_is_refused(fraction, steps, message):
    with pytest.raises(ValueError, match=message):
        TrainSettings(max_steps=steps, decay_fraction=fraction)


def test_format_constraint_every_sample_parses(adapted):
    model, tokenizer = adapted
    settings = SampleSettings(constraint="format", max_attempts=1, batch_size=16, seed=3)
    rows = list(sample(model, tokenizer, unconditional_requests(16), settings))
    assert len(rows) == 16
    assert all(r["status"] == "ok" for r in rows), [r["reason"] for r in rows if r["status"] != "ok"]
    for row in rows:
        assert len(Structure.from_str(row["cif"], fmt="cif")) <= 20


def test_element_constraint_never_yields_a_forbidden_element(adapted, pilot_dir):
    model, tokenizer = adapted
    allowed = {"Na", "Cl", "O"}
    settings = SampleSettings(constraint="elements", elements=tuple(allowed), max_attempts=1, batch_size=16)
    structures = pd.read_csv(pilot_dir / "test.csv.gz").head(6).rename(columns={"material_id": "id"})
    requests = unconditional_requests(16) + infill_requests(structures, 1, seed=0)
    rows = list(sample(model, tokenizer, requests, settings))
    seen = set()
    for row in rows:
        lines = row["raw_text"].split("\n")
        if row["task"] == "infill":
            seen.add(lines[0].strip())
        else:
            seen.update(line.strip() for line in lines[2::2] if line.strip())
    assert seen, "nothing was generated at element positions"
    assert seen <= allowed, seen - allowed


def test_unconstrained_garbage_is_kept_with_its_reason(adapted):
    model, tokenizer = adapted
    settings = SampleSettings(constraint="none", max_attempts=2, batch_size=8, max_new_tokens=12)
    rows = list(sample(model, tokenizer, unconditional_requests(4), settings))
    assert len(rows) == 8  # 12 tokens cannot hold a crystal: every request is redrawn once
    assert all(r["status"] == "rejected" and r["reason"] and r["raw_text"] for r in rows)
    assert sorted({r["attempt"] for r in rows}) == [1, 2]
    # A completion that did not reach EOS within its tokens says so, whatever its text.
    cut = [r for r in rows if r["reason"] == "cut at max_new_tokens"]
    assert cut, {r["reason"] for r in rows}


def test_conditional_prompts_carry_their_conditions(adapted):
    model, tokenizer = adapted
    table = pd.DataFrame(
        {"formula": ["NaCl", "Li2O"], "spacegroup": [225, None], "e_above_hull": [0.0, 0.05]}
    )
    requests = conditional_requests(table, 2)
    assert len(requests) == 4
    first = requests[0]
    assert f"{CONDITION_KEYS['formula']} NaCl." in first.prompt
    assert f"{CONDITION_KEYS['spacegroup']} 225." in first.prompt
    assert f"{CONDITION_KEYS['e_above_hull']} 0.0." in first.prompt
    assert CONDITION_KEYS["spacegroup"] not in requests[2].prompt  # a missing value is not stated
    rows = list(sample(model, tokenizer, requests, SampleSettings(constraint="format", max_attempts=1)))
    assert {json.loads(r["conditions"])["formula"] for r in rows} == {"NaCl", "Li2O"}
    assert all(r["prompt"].startswith("Below is a description") for r in rows)
    with pytest.raises(ValueError, match="unknown column"):
        conditional_requests(pd.DataFrame({"formula": ["NaCl"], "colour": ["red"]}), 1)


def test_infill_fills_the_mask(adapted, pilot_dir):
    model, tokenizer = adapted
    structures = pd.read_csv(pilot_dir / "test.csv.gz").head(5).rename(columns={"material_id": "id"})
    requests = infill_requests(structures, 2, seed=1)
    assert all("[MASK]" in r.prompt for r in requests)
    rows = list(sample(model, tokenizer, requests, SampleSettings(constraint="format", max_attempts=1)))
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == len(requests)
    for row in ok:
        source = Structure.from_str(structures.set_index("id").loc[row["source_id"], "cif"], fmt="cif")
        filled = Structure.from_str(row["cif"], fmt="cif")
        assert len(filled) == len(source)
        assert Element(row["proposed_element"]) in filled.composition
        expected = source.composition.element_composition.as_dict()
        count = expected.pop(row["masked_element"])
        got = Composition(filled.composition).element_composition.as_dict()
        assert got.get(row["proposed_element"], 0) >= count - 1e-6


def test_angle_guard_matches_the_codec_on_every_integer_triple():
    a = np.arange(1, 180)
    alpha, beta, gamma = np.meshgrid(a, a, a, indexing="ij")
    guard = (np.abs(alpha - beta) < gamma) & (gamma < np.minimum(alpha + beta, 360 - alpha - beta))
    ca, cb, cg = (np.cos(np.radians(x)) for x in (alpha, beta, gamma))
    codec = 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg > 1e-8  # the codec's own test
    assert (guard == codec).all()
    rng = np.random.default_rng(0)
    for x, y, z in rng.integers(1, 180, size=(300, 3)):
        text = f"5.0 5.0 5.0\n{x} {y} {z}\nNa\n0.00 0.00 0.00"
        valid = abs(x - y) < z < min(x + y, 360 - x - y)
        if valid:
            decode(text)
        else:
            with pytest.raises(CrystalParseError):
                decode(text)
    valid = frozenset({"45", "120"})
    assert AngleGuard._allowed(valid, "12", "0\n")  # completes 120
    assert AngleGuard._allowed(valid, "1", "2")  # may still become 120
    assert not AngleGuard._allowed(valid, "1", "2\n")  # 12 is outside
    assert not AngleGuard._allowed(valid, "", "9")  # nothing valid starts with 9


def test_crystal_regex_is_the_codec_language():
    pattern = re.compile(crystal_regex(["Na", "Cl"], 2))
    assert pattern.fullmatch("5.6 5.6 5.6\n90 90 90\nNa\n0.00 0.00 0.00\nCl\n0.50 0.50 0.50")
    assert not pattern.fullmatch("5.6 5.6 5.6\n90 90 90\nK\n0.00 0.00 0.00")
    assert not pattern.fullmatch("5.6 5.6 5.6\n90 90 90" + "\nNa\n0.00 0.00 0.00" * 3)


def test_offline_hub_id_fails_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(BaseModelUnavailableError, match=r"model\.base"):
        load_base_model(ModelSpec("meta-llama/Llama-2-7b-hf"))
    assert time.perf_counter() - start < 2
    with pytest.raises(BaseModelUnavailableError, match="not a folder"):
        load_tokenizer("/no/such/model")


def test_quantization_needs_a_gpu(tiny):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(BaseModelUnavailableError, match="CUDA GPU"):
        load_base_model(ModelSpec(str(tiny / "model"), quantization="4bit"))


def test_bad_records_name_the_line(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_records(path)


def test_sample_accepts_the_lora_output_folder_or_its_adapter(tiny, adapter, tmp_path, capsys):
    assert adapter_folder(adapter) == adapter / "adapter"
    assert adapter_folder(adapter / "adapter") == adapter / "adapter"
    argv = ["sample", "run", "--base", str(tiny / "model"), "--unconditional", "2", "--max-attempts", "1"]
    out = tmp_path / "samples.csv"
    assert main([*argv, "--adapter", str(adapter), "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 2
    # The base model's folder is not an adapter: the message says which folder to give.
    assert main([*argv, "--adapter", str(tiny / "model"), "--out", str(tmp_path / "no.csv")]) == 2
    err = capsys.readouterr().err
    assert "holds no LoRA adapter" in err and "xtalgen lora train --out" in err and "adapter/" in err
    assert not (tmp_path / "no.csv").exists()


def _swap_partners(symbol: str) -> set[str]:
    """Written from the definition, apart from the library: radius within 0.1 Å at a shared state."""
    own = Element(symbol).ionic_radii
    return {
        other.symbol
        for other in Element
        if other.symbol != symbol
        and any(
            state in other.ionic_radii and abs(r - other.ionic_radii[state]) < 0.1 for state, r in own.items()
        )
    }


@pytest.mark.parametrize("symbol", ["Na", "Fe", "S", "La"])
def test_swap_table_holds_exactly_the_close_ions(symbol):
    table = swap_table(symbol)
    assert set(table) == _swap_partners(symbol)
    assert len(table) == len(set(table))
    assert symbol not in table


def test_uniform_baseline_draws_from_the_swap_table(pilot_dir):
    structures = pd.read_csv(pilot_dir / "test.csv.gz").head(6).rename(columns={"material_id": "id"})
    requests = infill_requests(structures, 2, seed=3, swap_table=True)
    assert requests and all(r.choices == swap_table(r.masked_element) for r in requests)
    rows = uniform_baseline(requests, seed=0)
    assert rows == uniform_baseline(requests, seed=0)  # seeded
    assert len(rows) == len(requests)
    for request, row in zip(requests, rows, strict=True):
        assert row["id"] == f"b-{request.id}" and row["task"] == "infill_uniform"
        assert row["status"] == "ok"
        assert row["proposed_element"] in swap_table(request.masked_element)
        filled = Structure.from_str(row["cif"], fmt="cif")
        assert Element(request.masked_element) not in filled.composition
        assert Element(row["proposed_element"]) in filled.composition


def test_constrained_infill_answers_only_from_the_swap_table(adapted, pilot_dir):
    model, tokenizer = adapted
    structures = pd.read_csv(pilot_dir / "test.csv.gz").head(8).rename(columns={"material_id": "id"})
    requests = infill_requests(structures, 2, seed=1, swap_table=True)
    for constraint in ("format", "elements"):
        settings = SampleSettings(constraint=constraint, max_attempts=1, temperature=1.0, top_p=1.0)
        rows = list(sample(model, tokenizer, requests, settings))
        ok = [r for r in rows if r["status"] == "ok"]
        assert len(ok) == len(requests), constraint
        for row in ok:
            assert row["proposed_element"] in swap_table(row["masked_element"]), row
            assert row["proposed_element"] != row["masked_element"]


def _translation_blind(tiny_dir):
    """The tiny model with its output layer zeroed: uniform next-token odds, whatever the input."""
    model = load_base_model(ModelSpec(str(tiny_dir / "model")))
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()
        if getattr(model.get_output_embeddings(), "bias", None) is not None:
            model.get_output_embeddings().bias.zero_()
    return model


def test_ipt_is_zero_for_a_translation_blind_model_and_positive_for_the_tiny_model(tiny, pilot_dir):
    tokenizer = load_tokenizer(str(tiny / "model"))
    table = pd.read_csv(pilot_dir / "val.csv.gz").head(4)
    structures = [Structure.from_str(c, fmt="cif") for c in table.cif]
    blind = ipt(_translation_blind(tiny), tokenizer, structures, translations=4)
    assert blind.ipt_mean == pytest.approx(0.0, abs=1e-6)
    assert blind.ppl_mean == pytest.approx(len(tokenizer), rel=1e-4)  # uniform over the vocabulary
    learned = ipt(load_base_model(ModelSpec(str(tiny / "model"))), tokenizer, structures, translations=4)
    assert learned.ipt_mean > 0
    assert learned.n_structures == 4 and learned.translations == 4


def test_ipt_command_writes_its_json(tiny, adapter, pilot_dir, tmp_path):
    out = tmp_path / "ipt.json"
    args = ["evaluate", "ipt", "--base", str(tiny / "model"), "--adapter", str(adapter)]
    args += ["--structures", str(pilot_dir / "val.csv.gz"), "--max-structures", "3", "--translations", "3"]
    assert main([*args, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_structures"] == 3 and result["translations"] == 3
    assert result["ipt_mean"] > 0


@pytest.mark.parametrize("element_weight", [1.0, 5.0])
def test_the_first_step_gradient_does_not_depend_on_gradient_accumulation(
    tiny, records, tmp_path, element_weight
):
    """One effective batch of 8 as 1 x 8 or 4 x 2 gives the same gradient, weighted loss or not.

    transformers skips its 1/grad_accum division when the loss follows num_items_in_batch; a weighted
    loss that returned a per-micro-batch mean would make the second gradient 4 times the first.
    """
    from transformers import AutoModelForCausalLM, TrainerCallback  # noqa: PLC0415

    from xtalgen.lm.records import PadCollator  # noqa: PLC0415
    from xtalgen.lm.training import train  # noqa: PLC0415

    tokenizer = load_tokenizer(str(tiny / "model"))
    data = CompletionDataset(records["train"][:8], tokenizer, 512, element_weight=element_weight)

    class FirstGradient(TrainerCallback):
        def __init__(self) -> None:
            self.grads: dict[str, torch.Tensor] = {}

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            if not self.grads:
                named = model.named_parameters()
                self.grads = {n: p.grad.detach().clone() for n, p in named if p.grad is not None}

    grads = []
    for batch, accum in ((8, 1), (2, 4)):
        model = AutoModelForCausalLM.from_pretrained(str(tiny / "model"), dtype=torch.float32)
        first = FirstGradient()
        settings = TrainSettings(
            max_steps=1, batch_size=batch, grad_accum=accum, warmup_steps=0, group_by_length=False
        )
        train(model, data, None, PadCollator(tokenizer.pad_token_id), out_dir=tmp_path / f"ga{accum}",
              settings=settings, callbacks=[first])  # fmt: skip
        grads.append(first.grads)
    assert grads[0] and grads[0].keys() == grads[1].keys()
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_sampling_shard_stopped_by_sigterm_keeps_its_batches_and_resumes_to_the_uninterrupted_result(
    tiny, tmp_path
):
    """Slurm's preemption of a shard: the batches finished before SIGTERM are not sampled again, and
    each batch draws from its own seed, so the resumed shard equals one that was never stopped."""
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    argv = [sys.executable, "-m", "xtalgen.cli", "sample", "run", "--base", str(tiny / "model")]
    argv += ["--unconditional", "24", "--batch-size", "2", "--max-attempts", "2", "--seed", "4"]
    whole = tmp_path / "whole.csv"
    subprocess.run([*argv, "--out", str(whole)], check=True, capture_output=True)
    out = tmp_path / "shard.csv"
    journal = tmp_path / "shard.csv.journal.jsonl"
    proc = subprocess.Popen(
        [*argv, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0, "the shard finished before it could be stopped"
    assert "sampling stopped by SIGTERM" in err and str(journal) in err
    assert not out.exists()
    kept = journal.read_text().count("\n")
    assert kept >= 2
    rerun = subprocess.run([*argv, "--out", str(out)], check=True, capture_output=True, text=True)
    assert f"{kept} finished batches are reused" in rerun.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(whole))
    # A changed setting reuses nothing: the journal is keyed on the settings and the model's files.
    changed = subprocess.run(
        [*argv, "--temperature", "0.8", "--out", str(out)], check=True, capture_output=True, text=True
    )
    assert "finished batches are reused" not in changed.stderr

"""The language-model stage on the tokenizer families users bring, each under a random tiny LLaMA.

LLaMA-2's SentencePiece (a bare "▁" before digits, byte-fallback newlines), LLaMA-3's byte-level BPE
(digits grouped by three) and the project's own BPE, all built by xtalgen.testing.
"""

from __future__ import annotations

import json
import logging
import re

import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure

from xtalgen.dataset.prepare import PrepareSettings, prepare_split
from xtalgen.dataset.sources import find_split_file
from xtalgen.lm.draws import DrawnRecords, DrawSettings, read_training_structures
from xtalgen.lm.element_temperature import ElementTemperature
from xtalgen.lm.records import IGNORE, CompletionDataset, read_records, tokenize_record
from xtalgen.lm.sampling import (
    SampleSettings,
    conditional_requests,
    expected_sites,
    infill_requests,
    parse_completion,
    sample,
    unconditional_requests,
)
from xtalgen.lm.surface import completion as completion_of
from xtalgen.lm.surface import continuation, token_surfaces
from xtalgen.lm.training import TrainSettings, train
from xtalgen.testing import random_llama, tokenizer_family
from xtalgen.text.codec import decode, encode

FAMILIES = ["llama2", "llama3", "project"]


@pytest.fixture(scope="module")
def data(tmp_path_factory, pilot_dir):
    out = tmp_path_factory.mktemp("families-data")
    prepare_split(find_split_file(pilot_dir, "train"), "train", out, PrepareSettings(max_rows=120))
    return out


@pytest.fixture(scope="module", params=FAMILIES)
def family(request, tmp_path_factory, data):
    texts = [r["prompt"] + r["completion"] for r in read_records(data / "prompts.jsonl")]
    tokenizer = tokenizer_family(request.param, texts, tmp_path_factory.mktemp(request.param))
    return request.param, tokenizer, random_llama(tokenizer)


def _one_record_per_task(data):
    chosen = {}
    for record in read_records(data / "prompts.jsonl"):
        chosen.setdefault(record["task"], record)
    assert set(chosen) == {"unconditional", "conditional", "infill"}
    return list(chosen.values())


def test_the_families_tokenize_as_their_originals(family):
    name, tokenizer, _ = family
    tokens = tokenizer.convert_ids_to_tokens(
        tokenizer("3.8 3.8\n90 90 90\nNa", add_special_tokens=False)["input_ids"]
    )
    if name == "llama2":
        assert "▁" in tokens and "<0x0A>" in tokens  # a bare "▁" before digits, a byte-fallback newline
    if name == "llama3":
        assert "909" not in tokens and any(len(t) == 2 and t.isdigit() for t in tokens)  # "90" is one token
    if name == "project":
        assert all(len(t) == 1 for t in tokens if any(c.isdigit() for c in t))


def test_records_are_tokenized_with_prompt_and_completion_together(family, data):
    name, tokenizer, _ = family
    for record in _one_record_per_task(data):
        prompt, completion = record["prompt"], record["completion"]
        tokens = tokenize_record(tokenizer, prompt, completion, 4096, completion_only=True)
        learned = [i for i, label in zip(tokens.input_ids, tokens.labels, strict=True) if label != IGNORE]
        assert learned[-1] == tokenizer.eos_token_id
        assert tokens.input_ids[0] == tokenizer.bos_token_id
        full = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
        n_prompt = len(tokens.input_ids) - len(learned)
        # The completion's first token is the full text's token at that place ...
        assert learned[0] == full[n_prompt - 1]
        # ... and the completion's tokens write exactly the completion.
        assert tokenizer.decode(learned[:-1]) == completion
        assert continuation(tokenizer, len(tokenizer), learned) == completion
        # Written to EOS, a completion is whole; cut before it, it is not (and is rejected).
        assert completion_of(tokenizer, len(tokenizer), learned) == (completion, True)
        cut_text, ended = completion_of(tokenizer, len(tokenizer), learned[:-3])
        assert not ended and completion.startswith(cut_text)
        whole = tokenize_record(tokenizer, prompt, completion, 4096)
        assert whole.input_ids == tokens.input_ids and IGNORE not in whole.labels
    if name == "llama2":  # what tokenizing the completion alone got wrong
        infill = next(r for r in _one_record_per_task(data) if r["task"] == "infill")
        alone = tokenizer.convert_ids_to_tokens(
            tokenizer(infill["completion"], add_special_tokens=False)["input_ids"]
        )
        assert alone[0].startswith("▁")


def test_a_cut_record_is_reported(family, data, caplog):
    _, tokenizer, _ = family
    records = _one_record_per_task(data)
    longest = max(
        len(tokenize_record(tokenizer, r["prompt"], r["completion"], 10**6).input_ids) for r in records
    )
    with caplog.at_level(logging.WARNING):
        fits = CompletionDataset(records, tokenizer, longest, what="training")
    assert fits.cut == 0 and "cut" not in caplog.text
    with caplog.at_level(logging.WARNING):
        cut = CompletionDataset(records, tokenizer, longest - 1, what="training")
    assert cut.cut >= 1
    assert "training: " in caplog.text and "max_length" in caplog.text
    assert all(len(item["input_ids"]) <= longest - 1 for item in cut.items)


def test_surface_forms_keep_sentencepiece_spaces(family):
    name, tokenizer, _ = family
    ids = tokenizer("\n90 90 90\n", add_special_tokens=False)["input_ids"]
    texts = token_surfaces(tokenizer, len(tokenizer))
    written = "".join(texts[i] for i in ids)
    assert written.endswith("90 90 90\n")  # SentencePiece adds its dummy-prefix space in front
    if name == "llama2":  # what decoding one token alone got wrong: the space vanishes
        space = next(i for i in ids if texts[i] == " ")
        assert tokenizer.decode([space]) == ""


def _elements_of_complete_lines(text: str) -> list[str]:
    lines = text.split("\n")[:-1]  # the last line may be cut off
    return [line for k, line in enumerate(lines) if k >= 2 and k % 2 == 0]


def test_every_sample_parses_under_the_format_constraint(family):
    _, tokenizer, model = family
    settings = SampleSettings(
        temperature=1.0, top_p=1.0, batch_size=64, max_attempts=1, constraint="format", max_sites=6
    )
    rows = list(sample(model, tokenizer, unconditional_requests(64), settings))
    assert len(rows) == 64
    failed = [(r["raw_text"][:80], r["reason"]) for r in rows if r["status"] != "ok"]
    assert not failed, failed
    for row in rows:
        decode(row["raw_text"], max_sites=6)


def test_the_element_constraint_holds_in_generation_and_infill(family):
    _, tokenizer, model = family
    allowed = ("Na", "Cl", "O")
    settings = SampleSettings(
        temperature=1.0, top_p=1.0, batch_size=32, max_attempts=1, constraint="elements",
        elements=allowed, max_new_tokens=160,
    )  # fmt: skip
    rows = list(sample(model, tokenizer, unconditional_requests(32), settings))
    symbols = [s for r in rows for s in _elements_of_complete_lines(r["raw_text"])]
    assert set(symbols) <= set(allowed)
    nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    table = pd.DataFrame({"id": ["nacl"], "cif": [nacl.to(fmt="cif")]})
    requests = infill_requests(table, 24, seed=0)
    for constraint in ("elements", "format"):
        settings = SampleSettings(
            temperature=1.0, top_p=1.0, batch_size=24, max_attempts=1, constraint=constraint, elements=allowed
        )
        answers = [r for r in sample(model, tokenizer, requests, settings)]
        assert all(r["status"] == "ok" for r in answers), [r["raw_text"] for r in answers]
        assert {r["proposed_element"] for r in answers} <= set(allowed)


def test_constrained_infill_answers_from_the_swap_table(family):
    _, tokenizer, model = family
    structure = Structure(Lattice.cubic(4.2), ["K", "Br"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    table = pd.DataFrame({"id": ["kbr"], "cif": [structure.to(fmt="cif")]})
    requests = infill_requests(table, 16, seed=1, swap_table=True)
    assert requests and all(r.choices for r in requests)
    settings = SampleSettings(temperature=1.0, top_p=1.0, batch_size=16, max_attempts=1, constraint="format")
    choices = {r.id: r.choices for r in requests}
    rows = list(sample(model, tokenizer, requests, settings))
    assert len(rows) == len(requests)
    for row in rows:
        assert row["status"] == "ok"
        assert row["proposed_element"] in choices[row["id"]]


def test_conditional_samples_hold_their_formula_elements(family):
    _, tokenizer, model = family
    table = pd.DataFrame({"id": ["a", "b"], "formula": ["Sm(Fe5Mo)2", "LiMnO2"], "spacegroup": [71, 58]})
    requests = conditional_requests(table, 12, hold_elements=True)
    assert {r.choices for r in requests} == {("Sm", "Fe", "Mo"), ("Li", "Mn", "O")}  # electronegativity
    formula = {r.id: set(r.choices) for r in requests}
    settings = SampleSettings(
        temperature=1.0, top_p=1.0, batch_size=24, max_attempts=1, constraint="format", max_sites=6
    )
    rows = list(sample(model, tokenizer, requests, settings))
    assert len(rows) == 24 and all(r["status"] == "ok" for r in rows), [r["reason"] for r in rows]
    for row in rows:  # every element of the formula and no other, in blocks of that order
        structure = decode(row["raw_text"], max_sites=6)
        symbols = [site.specie.symbol for site in structure]
        assert set(symbols) == formula[row["id"]]
        assert list(dict.fromkeys(symbols)) == list(next(r.choices for r in requests if r.id == row["id"]))
    # Without the holding, the random model writes other elements: the constraint is what holds them.
    free = list(sample(model, tokenizer, conditional_requests(table, 12), settings))
    assert any(set(_elements_of_complete_lines(r["raw_text"])) - formula[r["id"]] for r in free)


def test_without_a_constraint_the_formula_elements_are_held_by_rejection():
    (request,) = conditional_requests(pd.DataFrame({"formula": ["NaCl"]}), 1, hold_elements=True)
    settings = SampleSettings(constraint="none")
    allowed = frozenset(("Na", "Cl", "K"))

    def text_of(*species: str) -> str:
        coords = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]][: len(species)]
        return encode(Structure(Lattice.cubic(5.6), list(species), coords))

    assert parse_completion(request, text_of("Na", "Cl"), settings, allowed)["status"] == "ok"
    assert parse_completion(request, text_of("K", "Cl"), settings, allowed) == {
        "status": "rejected",
        "reason": "elements outside the formula: K",
    }
    assert parse_completion(request, text_of("Na", "Na"), settings, allowed) == {
        "status": "rejected",
        "reason": "misses the formula's element(s): Cl",
    }
    free = conditional_requests(pd.DataFrame({"formula": ["NaCl"]}), 1)[0]
    assert parse_completion(free, text_of("K", "Cl"), settings, allowed)["status"] == "ok"


def test_a_crystal_cut_at_the_token_limit_is_rejected_even_when_it_parses():
    (request,) = conditional_requests(pd.DataFrame({"formula": ["NaCl"]}), 1)
    settings = SampleSettings(constraint="none")
    text = encode(Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.56]]))
    cut = text[: text.rindex("56") + 1]  # "0.5" of "0.56": still a crystal string, another crystal
    allowed = frozenset(("Na", "Cl"))
    assert parse_completion(request, cut, settings, allowed)["status"] == "ok"  # what decode alone says
    assert parse_completion(request, cut, settings, allowed, ended=False) == {
        "status": "rejected",
        "reason": "cut at max_new_tokens",
    }


def test_an_unreadable_formula_names_its_row():
    table = pd.DataFrame({"id": ["ok", "bad"], "formula": ["NaCl", "Xx9Q"]})
    with pytest.raises(ValueError, match=r"row 2 \(bad\): formula 'Xx9Q' is not a chemical formula"):
        conditional_requests(table, 1, hold_elements=True)
    assert conditional_requests(table.head(1), 1, hold_elements=True)[0].choices == ("Na", "Cl")
    with pytest.raises(ValueError, match=r"row 2 \(bad\): formula 'Xx9Q' is not a chemical formula"):
        conditional_requests(table, 1, formula_style="cell")


def test_a_cell_style_request_states_the_formula_flat_and_sizes_the_crystal():
    table = pd.DataFrame({"id": ["a", "b"], "formula": ["K2Hg3(GeS4)2", "Na2S2"]})
    requests = conditional_requests(table, 2, formula_style="cell")
    assert [r.conditions["formula"] for r in requests] == ["K2Hg3Ge2S8"] * 2 + ["Na2S2"] * 2
    assert "The chemical formula is K2Hg3Ge2S8. " in requests[0].prompt
    assert [expected_sites(r) for r in requests[::2]] == [15, 4]
    paper = conditional_requests(table, 1)
    assert "The chemical formula is K2Hg3(GeS4)2. " in paper[0].prompt


@pytest.mark.parametrize(
    ("completion", "element_line"),
    [
        ("", False),
        ("5.0 5.0", False),
        ("5.0 5.0 5.0\n90 90", False),
        ("5.0 5.0 5.0\n90 90 90\n", True),
        ("5.0 5.0 5.0\n90 90 90\nN", True),
        ("5.0 5.0 5.0\n90 90 90\nNa\n", False),
        ("5.0 5.0 5.0\n90 90 90\nNa\n0.50 0.25", False),
        ("5.0 5.0 5.0\n90 90 90\nNa\n0.50 0.25 0.00\n", True),
    ],
)
def test_element_temperature_cools_element_lines_only(family, completion, element_line):
    _, tokenizer, model = family
    prompt = [tokenizer.bos_token_id] + tokenizer(
        unconditional_requests(1)[0].prompt, add_special_tokens=False
    )["input_ids"]
    generated = tokenizer(completion, add_special_tokens=False)["input_ids"] if completion else []
    vocab = model.get_output_embeddings().weight.shape[0]
    cool = ElementTemperature(tokenizer, vocab, len(prompt), temperature=0.5, base_temperature=1.0)
    scores = cool(torch.tensor([prompt + generated]), torch.ones(1, vocab))
    assert torch.all(scores == (2.0 if element_line else 1.0))


def test_cool_element_lines_draw_fewer_elements(family):
    import math  # noqa: PLC0415
    from collections import Counter  # noqa: PLC0415

    _, tokenizer, model = family
    entropy = {}
    for element_temperature in (None, 0.05):
        settings = SampleSettings(
            temperature=1.0, top_p=1.0, batch_size=32, max_attempts=1, constraint="format", max_sites=6,
            seed=3, element_temperature=element_temperature,
        )  # fmt: skip
        rows = list(sample(model, tokenizer, unconditional_requests(32), settings))
        assert all(r["status"] == "ok" for r in rows), [r["reason"] for r in rows]
        counts = Counter(s.specie.symbol for r in rows for s in decode(r["raw_text"], max_sites=6))
        n = sum(counts.values())
        entropy[element_temperature] = -sum(c / n * math.log(c / n) for c in counts.values())
    # At 1.0 a random model scatters over the periodic table (about 3.5 nats over seeds 0 to 4 and
    # the three families); cooled, its likeliest elements remain (0.7 to 2.6 nats).
    assert entropy[0.05] < entropy[None] - 0.7, entropy


def test_two_epochs_draw_different_records(data, family):
    _, tokenizer, _ = family
    structures = read_training_structures(data / "structures.csv")
    drawn = DrawnRecords(structures, tokenizer, 1024, DrawSettings(seed=3))
    first = [drawn.record(i) for i in range(8)]
    assert first == [drawn.record(i) for i in range(8)]  # a pure function of (seed, epoch, index)
    drawn.set_epoch(1)
    second = [drawn.record(i) for i in range(8)]
    assert all(a["id"] == b["id"] for a, b in zip(first, second, strict=True))
    assert all(a != b for a, b in zip(first, second, strict=True))  # new translation (and maybe task)
    many = []
    for epoch in range(12):
        drawn.set_epoch(epoch)
        many.append(drawn.record(0)["task"])
    assert len(set(many)) >= 2  # the task is drawn anew too


class _SeenEpochs(DrawnRecords):
    """A drawn dataset that notes the epoch of every item the Trainer asks for."""

    seen: set[int]

    def __getitem__(self, index: int):
        self.seen.add(self.epoch)
        return super().__getitem__(index)


def test_the_trainer_moves_the_dataset_through_epochs(data, tmp_path):
    from xtalgen.lm.draws import EpochSetter  # noqa: PLC0415
    from xtalgen.lm.records import PadCollator  # noqa: PLC0415

    texts = [r["prompt"] + r["completion"] for r in read_records(data / "prompts.jsonl")]
    tokenizer = tokenizer_family("project", texts, tmp_path / "tok")
    model = random_llama(tokenizer)
    dataset = _SeenEpochs(read_training_structures(data / "structures.csv")[:8], tokenizer, 512)
    dataset.seen = set()
    settings = TrainSettings(epochs=3, batch_size=8, eval_steps=100, save_steps=100, logging_steps=1)
    train(
        model,
        dataset,
        None,
        PadCollator(tokenizer.pad_token_id),
        out_dir=tmp_path / "run",
        settings=settings,
        callbacks=[EpochSetter(dataset)],
    )
    assert dataset.seen == {0, 1, 2}


def test_batches_go_by_expected_length():
    table = json.loads('[{"formula": "Li7La3Zr2O12"}, {"formula": "NaCl"}, {"formula": "Fe2O3"}]')
    requests = conditional_requests(pd.DataFrame(table), 1)
    assert [expected_sites(r) for r in requests] == [24, 2, 5]
    assert sorted(requests, key=expected_sites)[0].conditions["formula"] == "NaCl"
    assert re.fullmatch(r"c-row\d\.0", requests[0].id)


def test_element_weights_fall_on_element_lines_and_eos(family, data):
    """Each family splits "1\nMn\n" its own way; the weights follow the characters, not the tokens."""
    from xtalgen.lm.records import element_weights  # noqa: PLC0415

    _, tokenizer, _ = family
    record = next(r for r in read_records(data / "prompts.jsonl") if r["task"] == "conditional")
    ids = tokenize_record(tokenizer, record["prompt"], record["completion"], 4096).input_ids
    weights = element_weights(tokenizer, record["prompt"], record["completion"], len(ids), 4.0)
    assert len(weights) == len(ids)
    assert weights[-1] == 4.0  # EOS
    heavy = tokenizer.decode([i for i, w in zip(ids[:-1], weights[:-1], strict=True) if w == 4.0])
    lines = record["completion"].split("\n")
    elements = "".join(lines[2::2])
    # Every element line's letters are weighted, and no digit of a coordinate or of the prompt is.
    assert re.sub(r"[^A-Za-z]", "", heavy) == elements
    assert not re.search(r"\d", heavy)
    # After a coordinate line the crystal goes on (a newline) or ends (EOS): the newline opening each
    # element line weighs as EOS does, or the weighted loss would favour ending early.
    assert heavy.count("\n") >= len(lines[2::2])


def test_the_weighted_loss_is_the_weighted_mean_of_token_losses(data, tmp_path):
    from xtalgen.lm.records import PadCollator  # noqa: PLC0415
    from xtalgen.lm.training import _WeightedLossTrainer  # noqa: PLC0415

    records = read_records(data / "prompts.jsonl")[:4]
    texts = [r["prompt"] + r["completion"] for r in records]
    tokenizer = tokenizer_family("project", texts, tmp_path / "tok")
    model = random_llama(tokenizer).eval()
    collate = PadCollator(tokenizer.pad_token_id)
    plain = collate([CompletionDataset(records, tokenizer, 512)[i] for i in range(4)])
    heavy = collate([CompletionDataset(records, tokenizer, 512, element_weight=5.0)[i] for i in range(4)])
    assert "weights" not in plain
    with torch.no_grad():
        logits = model(input_ids=plain["input_ids"], attention_mask=plain["attention_mask"]).logits
        token_loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), plain["labels"][:, 1:].clamp(min=0), reduction="none"
        )
        kept = (plain["labels"][:, 1:] != IGNORE).float()
        w = heavy["weights"][:, 1:] * kept
        trainer = _WeightedLossTrainer.__new__(_WeightedLossTrainer)
        got = trainer.compute_loss(model, heavy)
        unweighted = model(**plain).loss
    assert torch.isclose(got, (token_loss * w).sum() / w.sum(), rtol=1e-4)
    assert torch.isclose(unweighted, (token_loss * kept).sum() / kept.sum(), rtol=1e-4)
    assert set(w[kept.bool()].unique().tolist()) == {1.0, 5.0}


def test_a_non_positive_element_weight_is_refused():
    with pytest.raises(ValueError, match="element_weight must be positive"):
        TrainSettings(element_weight=0.0)


def test_a_dataset_tokenized_in_one_batch_equals_its_records_tokenized_one_by_one(family, data):
    """The dataset encodes every record in one call; ids, loss mask and weights must not change."""
    from xtalgen.lm.records import element_weights  # noqa: PLC0415

    _, tokenizer, _ = family
    records = read_records(data / "prompts.jsonl")
    dataset = CompletionDataset(records, tokenizer, 160, completion_only=True, element_weight=3.0)
    assert dataset.cut > 0  # the short max_length cuts some: the cut must fall alike too
    for item, record in zip(dataset.items, records, strict=True):
        alone = tokenize_record(tokenizer, record["prompt"], record["completion"], 160, completion_only=True)
        assert item["input_ids"] == alone.input_ids
        assert item["labels"] == alone.labels
        n = len(alone.input_ids)
        assert item["weights"] == element_weights(tokenizer, record["prompt"], record["completion"], n, 3.0)

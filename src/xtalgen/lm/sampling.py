"""Batched sampling of crystals as text: unconditional, conditional and infill, parsed and redrawn.

Prompts are generated in batches with left padding. Every completion goes through the codec; one that
does not parse is redrawn, up to ``max_attempts`` draws per requested sample, and every attempt is kept
with its raw text and the reason it was rejected.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Composition, Element

from xtalgen.errors import InputError
from xtalgen.io import Progress
from xtalgen.lm.batch_memory import BatchFit, fitting_batch_size
from xtalgen.lm.constraints import (
    DEFAULT_ELEMENTS,
    ElementConstraint,
    check_elements,
    crystal_regex,
    format_constraint,
    format_token_bound,
    infill_regex,
    system_grammar,
)
from xtalgen.lm.element_temperature import ElementTemperature
from xtalgen.lm.infill import swap_table as swap_table_of
from xtalgen.lm.request import SampleRequest
from xtalgen.lm.sample_journal import batch_key, batch_seed
from xtalgen.lm.settings import SampleSettings
from xtalgen.lm.surface import completion
from xtalgen.structures_io import parse_cif
from xtalgen.text.codec import CrystalParseError, decode, encode
from xtalgen.text.prompts import (
    CONDITION_KEYS,
    FormulaStyle,
    generation_prompt,
    infill_prompt,
    mask_element,
    stated_formula,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from xtalgen.lm.sample_journal import BatchJournal

__all__ = [
    "SAMPLE_COLUMNS",
    "SampleRequest",
    "SampleSettings",
    "conditional_requests",
    "expected_sites",
    "formula_elements",
    "infill_requests",
    "parse_completion",
    "sample",
    "unconditional_requests",
]

SAMPLE_COLUMNS = [
    "id",
    "attempt",
    "task",
    "prompt",
    "raw_text",
    "status",
    "reason",
    "cif",
    "conditions",
    "source_id",
    "masked_element",
    "proposed_element",
]
log = logging.getLogger(__name__)


def unconditional_requests(n: int, prefix: str = "u") -> list[SampleRequest]:
    """``n`` unconditional samples."""
    prompt = generation_prompt(None)
    return [SampleRequest(f"{prefix}-{i}", "unconditional", prompt) for i in range(n)]


def formula_elements(formula: str) -> tuple[str, ...]:
    """The element symbols of ``formula`` by electronegativity, the order of sites in MP's CIFs.

    ValueError names a formula pymatgen cannot read.
    """
    try:
        composition = Composition(str(formula))
    except (ValueError, KeyError) as err:
        raise InputError(f"formula {formula!r} is not a chemical formula ({err})") from err
    symbols = [el.symbol for el in composition.elements]
    if not symbols or not all(Element.is_valid_symbol(s) for s in symbols):
        raise InputError(f"formula {formula!r} is not a chemical formula (elements read: {symbols})")
    return tuple(sorted(symbols, key=lambda s: (Element(s).X, s)))


def conditional_requests(
    table: pd.DataFrame,
    per_row: int,
    prefix: str = "c",
    *,
    hold_elements: bool = False,
    formula_style: FormulaStyle = "reduced",
) -> list[SampleRequest]:
    """``per_row`` samples for each row of a conditions table (formula, spacegroup, e_above_hull, ...).

    ``hold_elements``: each sample holds its formula's chemical system, every element of the formula
    and no other (the constraint writes it, or parsing rejects the sample); the model still chooses
    the counts, the cell and the sites, so the formula is met only when its stoichiometry is right.
    ``formula_style`` states the formula as the model was trained to read it (cell: flat, with the
    amounts given).
    """
    unknown = [c for c in table.columns if c not in CONDITION_KEYS and c != "id"]
    if unknown:
        raise InputError(
            f"conditions table: unknown column(s) {', '.join(unknown)}; use {', '.join(CONDITION_KEYS)}"
        )
    if "formula" not in table.columns:
        raise InputError("conditions table: a 'formula' column is required (the paper always states it)")
    requests = []
    for number, row in enumerate(table.to_dict("records"), start=1):
        row_id = str(row.pop("id", f"row{number}"))
        conditions = {k: v for k, v in row.items() if not pd.isna(v)}
        try:
            if "formula" in conditions:
                conditions["formula"] = stated_formula(str(conditions["formula"]), formula_style)
            prompt = generation_prompt(conditions)
            choices = formula_elements(conditions["formula"]) if hold_elements else None
        except (KeyError, ValueError) as err:
            raise InputError(f"conditions table, row {number} ({row_id}): {err}") from err
        requests += [
            SampleRequest(
                f"{prefix}-{row_id}.{k}", "conditional", prompt, conditions=conditions, choices=choices
            )
            for k in range(per_row)
        ]
    return requests


def infill_requests(
    structures: pd.DataFrame, per_row: int, seed: int, prefix: str = "i", *, swap_table: bool = False
) -> list[SampleRequest]:
    """``per_row`` infill samples per structure (``id, cif``), each masking one of its elements.

    With ``swap_table`` (the paper's constrained infill) only elements with a non-empty swap table
    are masked, and each request carries that table as the answers it allows.
    """
    rng = np.random.default_rng(seed)
    requests = []
    for row_id, cif in zip(structures["id"].astype(str), structures["cif"], strict=True):
        structure, _ = parse_cif(cif)
        if structure is None:
            log.warning("infill: %s is not a readable structure, skipped", row_id)
            continue
        text = encode(structure)
        elements = sorted({el.symbol for el in structure.composition.elements})
        if swap_table:
            elements = [el for el in elements if swap_table_of(el)]
            if not elements:
                log.warning("infill: no element of %s has a swap table, skipped", row_id)
                continue
        for k in range(per_row):
            element = str(rng.choice(elements))
            prompt = infill_prompt(mask_element(text, element))
            requests.append(
                SampleRequest(
                    f"{prefix}-{row_id}.{k}",
                    "infill",
                    prompt,
                    source_id=row_id,
                    source_cif=structure.to(fmt="cif"),
                    masked_element=element,
                    choices=swap_table_of(element) if swap_table else None,
                )
            )
    return requests


def expected_sites(request: SampleRequest) -> int:
    """Sites the completion should have: the conditioned formula's atoms; 0 when nothing says.

    Generation ends at EOS, so a batch runs as long as its longest row: sorting by this keeps
    crystals of like size together.
    """
    formula = request.conditions.get("formula") if request.conditions else None
    if not formula:
        return 0
    try:
        return int(Composition(str(formula)).num_atoms)
    except (ValueError, KeyError):
        return 0


def _parse_infill(request: SampleRequest, text: str, allowed: frozenset[str]) -> dict:
    """Status, reason, CIF and proposed element of one infill answer."""
    lines = text.strip().splitlines()
    symbol = lines[0].strip() if lines else ""  # what follows the symbol's line is not read
    answers = allowed & frozenset(request.choices) if request.choices else allowed
    if not Element.is_valid_symbol(symbol) or symbol not in answers:
        return {"status": "rejected", "reason": f"not an allowed element symbol: {symbol[:20]!r}"}
    structure, _ = parse_cif(request.source_cif or "")
    if structure is None:
        return {"status": "rejected", "reason": "source structure unreadable"}
    structure.replace_species({request.masked_element: symbol})
    return {"status": "ok", "reason": "", "cif": structure.to(fmt="cif"), "proposed_element": symbol}


def parse_completion(
    request: SampleRequest,
    text: str,
    settings: SampleSettings,
    allowed: frozenset[str],
    *,
    ended: bool = True,
) -> dict:
    """Status, reason and CIF of one completion, held to the sample's allowed elements.

    ``ended``: the model wrote EOS. A crystal cut at the token limit is rejected, and redrawn,
    whether or not its text happens to parse.
    """
    if request.task == "infill":
        return _parse_infill(request, text, allowed)
    if not ended:
        return {"status": "rejected", "reason": "cut at max_new_tokens"}
    return _parse_crystal(request, text, settings, allowed)


def _parse_crystal(
    request: SampleRequest, text: str, settings: SampleSettings, allowed: frozenset[str]
) -> dict:
    try:
        structure = decode(text, max_sites=settings.max_sites)
    except CrystalParseError as err:
        return {"status": "rejected", "reason": str(err)}
    used = {el.symbol for el in structure.composition.elements}
    if outside := sorted(used - allowed):
        return {"status": "rejected", "reason": f"elements outside sample.elements: {', '.join(outside)}"}
    # A held chemical system (formula_elements): the format constraint writes it; under the other
    # constraints it is held here, by rejection.
    if request.choices and (outside := sorted(used - set(request.choices))):
        return {"status": "rejected", "reason": f"elements outside the formula: {', '.join(outside)}"}
    if request.choices and (missing := [el for el in request.choices if el not in used]):
        return {"status": "rejected", "reason": f"misses the formula's element(s): {', '.join(missing)}"}
    return {"status": "ok", "reason": "", "cif": structure.to(fmt="cif")}


def _processors(
    tokenizer: PreTrainedTokenizerBase,
    vocab_size: int,
    task: str,
    settings: SampleSettings,
    choices: list[tuple[str, ...] | None],
) -> list:
    """The constraint's processors for one batch; ``choices``: each row's held elements, or None."""
    if settings.constraint == "none":
        return []
    configured = settings.elements or DEFAULT_ELEMENTS

    def elements_of(held: tuple[str, ...] | None) -> tuple[str, ...]:
        if not held:
            return tuple(configured)
        return tuple(el for el in held if el in set(configured)) or tuple(held)

    kind = "element" if task == "infill" else "crystal"
    if settings.constraint == "elements":  # one batch holds one set (sample() groups by it)
        return [ElementConstraint(tokenizer, elements_of(choices[0]), kind, vocab_size)]
    if kind == "element":
        return format_constraint(tokenizer, vocab_size, infill_regex(elements_of(choices[0])), kind)
    if any(choices):  # each conditional sample's chemical system (sample() never mixes in unheld rows)
        grammars = [system_grammar(held or (), settings.max_sites) for held in choices]
        return format_constraint(tokenizer, vocab_size, grammars, kind, ebnf=True)
    return format_constraint(tokenizer, vocab_size, crystal_regex(configured, settings.max_sites), kind)


def _element_temperature(
    tokenizer: PreTrainedTokenizerBase, vocab_size: int, width: int, task: str, settings: SampleSettings
) -> list:
    if task == "infill" or settings.element_temperature in (None, settings.temperature):
        return []
    element = ElementTemperature(
        tokenizer, vocab_size, width, settings.element_temperature, settings.temperature
    )
    return [element]


def _new_tokens(task: str, settings: SampleSettings) -> int:
    if task == "infill":
        return 8
    if settings.constraint == "format":  # room for the longest string the grammar allows
        return max(settings.max_new_tokens, format_token_bound(settings.max_sites))
    return settings.max_new_tokens


def _generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    task: str,
    settings: SampleSettings,
    *,
    choices: list[tuple[str, ...] | None] | None = None,
) -> list[tuple[str, bool]]:
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    encoded = [bos + tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(map(len, encoded))
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(encoded):  # left padding: every prompt ends where generation starts
        ids[row, width - len(seq) :] = torch.tensor(seq)
        mask[row, width - len(seq) :] = 1
    device = next(model.parameters()).device
    vocab_size = model.get_output_embeddings().weight.shape[0]
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            do_sample=True,
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_new_tokens=_new_tokens(task, settings),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            logits_processor=_processors(
                tokenizer, vocab_size, task, settings, choices or [None] * len(prompts)
            )
            + _element_temperature(tokenizer, vocab_size, width, task, settings),
        )
    return [completion(tokenizer, vocab_size, row) for row in out[:, width:].tolist()]


def _generate_fitting(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    task: str,
    settings: SampleSettings,
    *,
    choices: list[tuple[str, ...] | None],
    fit: BatchFit,
) -> list[tuple[str, bool]]:
    """``_generate`` in slices of ``fit.size`` rows; a slice that runs out of memory is halved."""
    out: list[tuple[str, bool]] = []
    while len(out) < len(prompts):
        rows = slice(len(out), len(out) + fit.size)
        try:
            out += _generate(model, tokenizer, prompts[rows], task, settings, choices=choices[rows])
        except torch.OutOfMemoryError:
            fit.shrink(len(prompts[rows]))
    return out


def _start_batch_size(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    requests: list[SampleRequest],
    settings: SampleSettings,
) -> int:
    """``sample.batch_size``, or fewer rows on a GPU where their KV cache would not fit in free memory."""
    device = next(model.parameters()).device
    if device.type != "cuda" or not requests:
        return settings.batch_size
    free, _ = torch.cuda.mem_get_info(device)
    prompt = max(len(tokenizer(r.prompt)["input_ids"]) for r in requests[:1000])
    tokens = prompt + max(_new_tokens(r.task, settings) for r in requests[:1000])
    size = fitting_batch_size(model.config, next(model.parameters()).dtype, tokens, free, settings.batch_size)
    if size < settings.batch_size:
        log.info(
            "sampling: %d rows per batch fit in %.1f GiB free (%d tokens per row)", size, free / 2**30, tokens
        )
    return size


def _batch_key(request: SampleRequest, settings: SampleSettings) -> tuple[str, tuple[str, ...]]:
    """Requests that may share a batch have the same key."""
    choices = request.choices or ()
    if request.task == "infill" or settings.constraint == "elements":
        return request.task, choices
    return request.task, ("held",) if choices else ()


def _sample_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: list[SampleRequest],
    *,
    task: str,
    attempt: int,
    settings: SampleSettings,
    allowed: frozenset[str],
    fit: BatchFit,
) -> list[dict[str, Any]]:
    """One row per request of one batch: its text and what parsing made of it."""
    held = [r.choices or None for r in batch]
    prompts = [r.prompt for r in batch]
    texts = _generate_fitting(model, tokenizer, prompts, task, settings, choices=held, fit=fit)
    return [
        {
            "id": request.id,
            "attempt": attempt,
            "task": request.task,
            "prompt": request.prompt,
            "raw_text": text,
            "cif": "",
            "conditions": json.dumps(request.conditions) if request.conditions else "",
            "source_id": request.source_id or "",
            "masked_element": request.masked_element or "",
            "proposed_element": "",
        }
        | parse_completion(request, text, settings, allowed, ended=ended)
        for request, (text, ended) in zip(batch, texts, strict=True)
    ]


def sample(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    requests: list[SampleRequest],
    settings: SampleSettings,
    journal: BatchJournal | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one row per attempt (columns :data:`SAMPLE_COLUMNS`) until each request parses or gives up.

    Each batch draws from a seed of its own (``settings.seed`` and the batch's requests), so a batch
    is the same whatever was sampled before it; with ``journal``, a batch sampled before is read
    back from it instead, and each new one is journaled as it finishes.
    """
    allowed = frozenset(check_elements(settings.elements) if settings.elements else DEFAULT_ELEMENTS)
    model.eval()
    pending = list(requests)
    fit = BatchFit(_start_batch_size(model, tokenizer, requests, settings))
    progress = Progress("samples parsed", len(requests))
    parsed = 0
    for attempt in range(1, settings.max_attempts + 1):
        failed = []
        # One batch shares one task. Under the format constraint each row has its own grammar, so
        # samples held to different formulas share a batch; infill answers and the element constraint
        # share one set of allowed elements per batch. Within a batch requests go by expected length,
        # so a batch does not wait on its longest row.
        for key in sorted({_batch_key(r, settings) for r in pending}):
            todo = [r for r in pending if _batch_key(r, settings) == key]
            todo.sort(key=expected_sites)
            for start in range(0, len(todo), settings.batch_size):
                batch = todo[start : start + settings.batch_size]
                task = key[0]
                done = batch_key(attempt, batch)
                rows = journal.get(done) if journal is not None else None
                if rows is None:
                    torch.manual_seed(batch_seed(settings.seed, done))
                    rows = _sample_batch(
                        model,
                        tokenizer,
                        batch,
                        task=task,
                        attempt=attempt,
                        settings=settings,
                        allowed=allowed,
                        fit=fit,
                    )
                    if journal is not None:
                        journal.put(done, rows)
                for request, row in zip(batch, rows, strict=True):
                    if row["status"] != "ok":
                        failed.append(request)
                    parsed += row["status"] == "ok"
                    yield row
                progress.update(parsed, f"attempt {attempt}, {task} batch of {len(batch)}")
        pending = failed
        if not pending:
            break

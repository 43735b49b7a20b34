"""Where a base loses the composition it is asked for: its element-line decisions under teacher forcing.

Run: python benchmarks/element_lines.py --records results/data/val/prompts.jsonl MODEL [MODEL ...]
(each MODEL a model folder, or FOLDER:ADAPTER for a base with a LoRA adapter; the tokenizer is the
model folder's own).

Over the first --records-limit conditional records, the base reads the true crystal string and, at
each element line, is scored on the element it puts first (argmax):
- first: the crystal's first element line (the formula's first element);
- switch: the first line of each later element, where it must leave the element it wrote and find
  the next one in the formula; "right when it leaves" is the mass on the true next element among the
  elements other than the one just written;
- repeat: a line that repeats the element above it;
- end: EOS after the last site.
"P(EOS) where it goes on" is the mean mass on EOS after a coordinate line that another site follows:
a base that ends crystals early puts mass there; "P(EOS) at the end" is the mass where it does end.
Sampling is not involved, so the figures are exact
for the records read and take seconds per model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase


def load(spec: str) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    folder, _, adapter = spec.partition(":")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    if adapter:
        from peft import PeftModel  # noqa: PLC0415

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.eval(), tokenizer


def element_line_starts(prompt: str, completion: str) -> dict[int, tuple[str, str | None]]:
    """Character offset of each element line -> (its class, the element written just above it)."""
    starts: dict[int, tuple[str, str | None]] = {}
    offset, previous = len(prompt), None
    for number, line in enumerate(completion.split("\n")):
        if number >= 2 and number % 2 == 0:
            kind = "first" if previous is None else ("repeat" if line == previous else "switch")
            starts[offset] = (kind, previous)
            previous = line
        offset += len(line) + 1
    return starts


def score(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, records: list[dict]) -> dict:
    right = {k: [0, 0] for k in ("first", "switch", "repeat", "end")}
    leaves, right_when_leaving, eos_going_on, eos_at_end = [], [], [], []
    for record in records:
        prompt, completion = record["prompt"], record["completion"]
        text = prompt + completion
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        ids = bos + encoded["input_ids"] + [tokenizer.eos_token_id]
        offsets = [(0, 0)] * len(bos) + encoded["offset_mapping"] + [(len(text), len(text))]
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor([ids])).logits[0].float(), -1)
        starts = element_line_starts(prompt, completion)
        newlines = {start - 1 for start, (kind, _) in starts.items() if kind != "first"}
        for j in range(1, len(ids)):
            begin, end = offsets[j]
            guess = int(probs[j - 1].argmax())
            if j == len(ids) - 1:
                eos_at_end.append(float(probs[j - 1, tokenizer.eos_token_id]))
                right["end"][0] += guess == ids[j]
                right["end"][1] += 1
            elif begin in newlines and end == begin + 1:
                eos_going_on.append(float(probs[j - 1, tokenizer.eos_token_id]))
            elif begin in starts and end > begin:
                kind, previous = starts[begin]
                right[kind][0] += guess == ids[j]
                right[kind][1] += 1
                if kind == "switch":
                    mass = probs[j - 1].clone()
                    stay = tokenizer(previous, add_special_tokens=False)["input_ids"][0]
                    leaves.append(float(mass[stay]))
                    mass[stay] = 0.0
                    right_when_leaving.append(float(mass[ids[j]] / mass.sum()))
    return {
        **{k: (a, n) for k, (a, n) in right.items()},
        "stays at a switch": float(np.mean(leaves)) if leaves else float("nan"),
        "right when it leaves": float(np.mean(right_when_leaving)) if right_when_leaving else float("nan"),
        "P(EOS) where it goes on": float(np.mean(eos_going_on)) if eos_going_on else float("nan"),
        "P(EOS) at the end": float(np.mean(eos_at_end)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model folder, or FOLDER:ADAPTER")
    parser.add_argument("--records", type=Path, required=True, help="prompts.jsonl (conditional records)")
    parser.add_argument("--records-limit", type=int, default=150)
    args = parser.parse_args()
    with args.records.open() as handle:
        records = [r for r in map(json.loads, handle) if r["task"] == "conditional"][: args.records_limit]
    print(f"{len(records)} conditional records of {args.records}, teacher-forced, argmax right")
    print(
        "model | first | switch | repeat | end (EOS) | mass kept on the element above at a switch "
        "| right when it leaves | P(EOS) where it goes on | P(EOS) at the end"
    )
    for spec in args.models:
        model, tokenizer = load(spec)
        result = score(model, tokenizer, records)
        shares = " | ".join(
            f"{a / n:.2f} of {n}" if n else "n/a"
            for a, n in (result[k] for k in ("first", "switch", "repeat", "end"))
        )
        print(
            f"{spec} | {shares} | {result['stays at a switch']:.2f} | {result['right when it leaves']:.2f} "
            f"| {result['P(EOS) where it goes on']:.3f} | {result['P(EOS) at the end']:.3f}"
        )


if __name__ == "__main__":
    main()

"""The language-model stages: tokenizer, tiny base, LoRA fine-tuning and sampling.

Takes prompt records of the data stage and a base model (``base``, or the embedded one built by
``tokenizer`` and ``tiny``); gives a LoRA adapter (``lora`` over ``records`` and ``training``) and
sampled crystals, parsed, redrawn and constrained (``sampling``, ``constraints``). ``stage`` holds the
file-level entry points. Imports ``xtalgen.text`` and ``xtalgen.dataset`` among the stages.
"""

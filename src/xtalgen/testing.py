"""Helpers for tests of xtalgen and of code built on it.

Where the shared reference data lives, atomate2's fake VASP, and tokenizers of the three families
users bring (LLaMA-2's SentencePiece, LLaMA-3's byte-level BPE, this project's digit-splitting BPE),
each built here in seconds with a tiny random LlamaForCausalLM under it, so that any code that
tokenizes, constrains or decodes crystal strings can be checked against all of them. Check your own
tokenizer the same way: load it, put :func:`random_llama` under it, and run the constraint tests.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

__all__ = [
    "LLAMA3_SPLIT_PATTERN",
    "SHARED_DATA_ENV",
    "SI_MP_GGA_REF_PATHS",
    "SI_MP_GGA_STATIC_ENERGY",
    "atomate2_vasp_reference",
    "fake_vasp",
    "llama2_style_tokenizer",
    "llama3_style_tokenizer",
    "mp20_pilot_dir",
    "project_tokenizer",
    "random_llama",
    "shared_data_dir",
    "tokenizer_family",
]

SHARED_DATA_ENV = "XTALGEN_SHARED_DATA"


def shared_data_dir() -> Path:
    """``$XTALGEN_SHARED_DATA``, defaulting to ``../shared/data`` from the working directory."""
    path = Path(os.environ.get(SHARED_DATA_ENV, "../shared/data")).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"shared test data not found at {path}: set {SHARED_DATA_ENV} to the folder holding "
            "mp_20/, matgl_models/, hull_reference/ and atomate2_vasp_reference/"
        )
    return path


def mp20_pilot_dir() -> Path:
    """The first 1000 rows of each official MP-20 split."""
    return shared_data_dir() / "mp_20" / "pilot_first1000"


def atomate2_vasp_reference() -> Path:
    """atomate2's reference VASP inputs and outputs (``vasp/<folder>/<job>/{inputs,outputs}``)."""
    return shared_data_dir() / "atomate2_vasp_reference" / "vasp"


@contextlib.contextmanager
def fake_vasp(
    ref_paths: dict[str, str], fake_run_vasp_kwargs: dict[str, dict] | None = None
) -> Iterator[None]:
    """A test double for VASP, a licensed code that cannot run here: atomate2's own fake VASP.

    Inside the block, every atomate2 VASP job named in ``ref_paths`` checks its INCAR, KPOINTS,
    POSCAR and POTCAR.spec against the reference inputs and then copies the reference outputs in
    place of running VASP, exactly as atomate2's test suite does.
    """
    import pytest  # noqa: PLC0415
    from atomate2.utils.testing.vasp import monkeypatch_vasp  # noqa: PLC0415

    patches = monkeypatch_vasp(pytest.MonkeyPatch(), atomate2_vasp_reference())
    register = next(patches)
    register(ref_paths, fake_run_vasp_kwargs)
    try:
        yield
    finally:
        next(patches, None)


# atomate2's MP GGA double relax + static of Si, with its expected static energy (eV).
SI_MP_GGA_REF_PATHS = {
    "MP GGA relax 1": "Si_mp_gga_relax/GGA_Relax_1",
    "MP GGA relax 2": "Si_mp_gga_relax/GGA_Relax_2",
    "MP GGA static": "Si_mp_gga_relax/GGA_Static",
}
SI_MP_GGA_STATIC_ENERGY = -10.84060922


# LLaMA-3's (and GPT-4's) pre-tokenizer split: digits in groups of up to three, words, punctuation runs.
LLAMA3_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def llama2_style_tokenizer(
    texts: Iterable[str], out_dir: Path, vocab_size: int = 400
) -> PreTrainedTokenizerBase:
    """A SentencePiece BPE with the options Meta's LLaMA-2 tokenizer.model records, via LlamaTokenizer.

    Trained on the lines of ``texts``, as Meta's was on text split at newlines: a newline is then a
    byte-fallback token (``<0x0A>``), and a space before a digit is a lone "▁".
    """
    import io  # noqa: PLC0415

    import sentencepiece as spm  # noqa: PLC0415
    from transformers import LlamaTokenizer  # noqa: PLC0415

    model = io.BytesIO()
    lines = (line for text in texts for line in text.split("\n") if line)
    spm.SentencePieceTrainer.train(
        sentence_iterator=lines,
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        split_digits=True,
        byte_fallback=True,
        add_dummy_prefix=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        character_coverage=0.99995,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.model").write_bytes(model.getvalue())
    tokenizer = LlamaTokenizer.from_pretrained(str(out_dir))
    tokenizer.save_pretrained(out_dir)
    return tokenizer


def llama3_style_tokenizer(
    texts: Iterable[str], out_dir: Path, vocab_size: int = 400
) -> PreTrainedTokenizerBase:
    """A byte-level BPE after LLaMA-3's split (digits grouped by up to three), with its special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    specials = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **specials)  # no pad token, as LLaMA-3
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(out_dir)
    return wrapped


def project_tokenizer(texts: Iterable[str], out_dir: Path, vocab_size: int = 400) -> PreTrainedTokenizerBase:
    """The project's own digit-splitting byte-level BPE (the tiny base's tokenizer)."""
    from xtalgen.lm.tokenizer import train_tokenizer  # noqa: PLC0415

    return train_tokenizer(list(texts), out_dir, vocab_size)


FAMILIES = {"llama2": llama2_style_tokenizer, "llama3": llama3_style_tokenizer, "project": project_tokenizer}


def tokenizer_family(
    family: str, texts: Iterable[str], out_dir: Path, vocab_size: int = 400
) -> PreTrainedTokenizerBase:
    """The tokenizer of ``family`` (llama2, llama3, project), saved and reloaded as users load theirs."""
    from xtalgen.lm.base import load_tokenizer  # noqa: PLC0415

    FAMILIES[family](texts, out_dir, vocab_size)
    return load_tokenizer(str(out_dir))


# The vocabulary sizes of the tokenizers users bring: LLaMA-2's and LLaMA-3's.
REAL_VOCAB_SIZES = {"llama2": 32_000, "llama3": 128_256}


def padded_tokenizer(family: str, texts: Sequence[str], out_dir: Path, size: int) -> PreTrainedTokenizerBase:
    """``family``'s tokenizer grown to ``size`` tokens, for measuring and testing at real vocabularies.

    The padding tokens are lowercase words that occur nowhere in ``texts`` (so crystals and prompts
    tokenize as before) and a run of tokens that hold newlines after other text, as real
    vocabularies do; every one has a surface, as LLaMA's 32,000 and 128,256 tokens do.
    """
    import itertools  # noqa: PLC0415
    import re  # noqa: PLC0415
    import string  # noqa: PLC0415

    tokenizer = tokenizer_family(family, texts, out_dir, vocab_size=400)
    seen = {
        run[i : i + n]
        for run in re.findall("[a-z]+", "\n".join(texts))
        for n in (4, 5, 6)
        for i in range(len(run) - n + 1)
    }
    every = ("".join(w) for n in (4, 5, 6) for w in itertools.product(string.ascii_lowercase, repeat=n))
    words = (w for w in every if w not in seen)
    padding = [f"{w}\n" for w in itertools.islice(words, 500)]
    padding += itertools.islice(words, max(0, size - len(tokenizer) - len(padding)))
    tokenizer.add_tokens(padding[: size - len(tokenizer)])
    tokenizer.save_pretrained(out_dir)
    from xtalgen.lm.base import load_tokenizer  # noqa: PLC0415

    return load_tokenizer(str(out_dir))


def random_llama(tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> LlamaForCausalLM:
    """A tiny, randomly initialised LlamaForCausalLM sized to ``tokenizer`` (about 0.1 M parameters)."""
    from transformers import set_seed  # noqa: PLC0415

    from xtalgen.lm.tiny import TinyModelSettings, build_tiny_model  # noqa: PLC0415

    set_seed(seed)
    shape = TinyModelSettings(hidden_size=64, layers=2, heads=2, intermediate_size=128, max_position=1024)
    return build_tiny_model(shape, tokenizer).eval()

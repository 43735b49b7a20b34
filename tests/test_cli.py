from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xtalgen.cli import build_parser, main
from xtalgen.cli import data as data_cli
from xtalgen.cli.options import add_command, command_listing
from xtalgen.dataset.sources import DatasetUnavailableError, resolve_split
from xtalgen.errors import SETTINGS, InputError, named_as_flags, setting, setting_value

REPO = Path(__file__).resolve().parents[1]


def _commands() -> dict[str, argparse.ArgumentParser]:
    """'noun verb' -> its parser, for every command."""
    out = {}
    top = build_parser()
    for nouns in (a for a in top._actions if isinstance(a, argparse._SubParsersAction)):
        for noun, group in nouns.choices.items():
            for verbs in (a for a in group._actions if isinstance(a, argparse._SubParsersAction)):
                for verb, parser in verbs.choices.items():
                    out[f"{noun} {verb}"] = parser
    return out


COMMANDS = _commands()


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_every_command_is_noun_then_verb():
    assert set(COMMANDS) == {
        "data prepare",
        "data corpus",
        "tokenizer train",
        "tiny pretrain",
        "lora train",
        "sample run",
        "hull build",
        "prescreen run",
        "prescreen validate",
        "dft prepare",
        "dft submit",
        "dft status",
        "dft collect",
        "evaluate metrics",
        "evaluate ipt",
    }


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_help_that_shows_its_default(command: str):
    parser = COMMANDS[command]
    text = parser.format_help()
    for action in _options(parser):
        assert action.help, f"{command} {action.option_strings[0]} has no help text"
        if not action.required:
            formatted = parser._get_formatter()._get_help_string(action)
            assert "default" in formatted, f"{command} {action.option_strings[0]}: no default in its help"
    assert "usage: xtalgen " + command in " ".join(text.split())


def test_top_level_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":class:" not in text and ".. " not in text
    for command in COMMANDS:
        assert command in text


def test_a_flag_means_one_thing_across_commands():
    meanings: dict[str, set[str]] = {}
    for parser in COMMANDS.values():
        for action in _options(parser):
            kind = "switch" if action.nargs == 0 else getattr(action.type, "__name__", "str")
            meanings.setdefault(action.option_strings[0], set()).add(kind)
    mixed = {flag: kinds for flag, kinds in meanings.items() if len(kinds) > 1}
    assert not mixed


# Flags that carry a workflow key: their default is the workflow's (config.schema.yaml).
WORKFLOW_KEYS = {
    "data prepare": {
        "--splits": "data.splits",
        "--seed": "data.seed",
        "--copies": "data.augment.copies",
        "--augment-splits": "data.augment.splits",
        "--infill-fraction": "data.infill_fraction",
        "--max-rows": "data.max_rows",
    },
    "tokenizer train": {"--vocab-size": "model.tiny.vocab_size"},
    "tiny pretrain": {
        "--hidden-size": "model.tiny.hidden_size",
        "--layers": "model.tiny.layers",
        "--heads": "model.tiny.heads",
        "--intermediate-size": "model.tiny.intermediate_size",
        "--max-steps": "model.tiny.steps",
        "--batch-size": "model.tiny.batch_size",
        "--lr": "model.tiny.learning_rate",
    },
    "lora train": {
        "--lora-r": "finetune.lora.r",
        "--lora-alpha": "finetune.lora.alpha",
        "--lora-dropout": "finetune.lora.dropout",
        "--target-modules": "finetune.lora.target_modules",
        "--lr": "finetune.learning_rate",
        "--warmup-steps": "finetune.warmup_steps",
        "--epochs": "finetune.epochs",
        "--max-steps": "finetune.max_steps",
        "--batch-size": "finetune.batch_size",
        "--grad-accum": "finetune.grad_accum",
        "--max-length": "finetune.max_length",
        "--eval-steps": "finetune.eval_steps",
        "--save-steps": "finetune.save_steps",
        "--val-limit": "finetune.val_records",
        "--precision": "finetune.precision",
        "--quantization": "finetune.quantization",
        "--seed": "finetune.seed",
    },
    "sample run": {
        "--unconditional": "sample.unconditional",
        "--conditions-per-row": "sample.conditional.per_row",
        "--conditions-max-rows": "sample.conditional.max_rows",
        "--infill-per-row": "sample.infill.per_row",
        "--infill-max-rows": "sample.infill.max_rows",
        "--batch-size": "sample.batch_size",
        "--temperature": "sample.temperature",
        "--top-p": "sample.top_p",
        "--max-new-tokens": "sample.max_new_tokens",
        "--max-attempts": "sample.max_attempts",
        "--constraint": "sample.constraint",
        "--elements": "sample.elements",
        "--max-sites": "sample.max_sites",
        "--seed": "sample.seed",
    },
    "prescreen run": {
        "--model": "prescreen.model",
        "--aggregation": "prescreen.aggregation",
        "--max-structures": "prescreen.max_structures",
        "--workers": "prescreen.workers",
        "--fmax": "prescreen.fmax",
        "--steps": "prescreen.steps",
        "--max-seconds": "prescreen.max_seconds",
        "--min-sites": "prescreen.min_sites",
        "--max-sites": "prescreen.max_sites",
        "--ehull-max": "prescreen.ehull_max",
        "--max-below-hull": "prescreen.max_below_hull",
        "--keep-flagged": "prescreen.keep_flagged",
    },
    "evaluate metrics": {"--ehull-tolerance": "evaluate.ehull_tolerance"},
    "evaluate ipt": {
        "--translations": "evaluate.ipt_translations",
        "--max-structures": "evaluate.ipt_structures",
    },
    "prescreen validate": {
        "--validation-size": "prescreen.validation_size",
        "--max-error": "prescreen.max_model_error",
    },
    "dft prepare": {
        "--maker": "dft.maker",
        "--vasp-cmd": "dft.vasp_cmd",
        "--potcar-dir": "dft.potcar_dir",
        "--max-candidates": "dft.max_candidates",
    },
}


def _schema_default(key: str):
    node = yaml.safe_load((REPO / "config.schema.yaml").read_text())
    for part in key.split("."):
        node = node["properties"][part]
    return node["default"]


@pytest.mark.parametrize("command", sorted(WORKFLOW_KEYS))
def test_workflow_keys_have_flags_with_the_workflows_defaults(command: str):
    actions = {a.option_strings[0]: a for a in _options(COMMANDS[command])}
    for flag, key in WORKFLOW_KEYS[command].items():
        assert flag in actions, f"{command} has no {flag} for {key}"
        default = actions[flag].default
        default = list(default) if isinstance(default, tuple) else default
        expected = _schema_default(key)
        expected = pytest.approx(expected, rel=1e-9) if isinstance(expected, float) else expected
        assert default == expected, f"{command} {flag}: {default!r}, {key}: {expected!r}"


def test_renamed_commands_say_their_new_name(capsys):
    assert main(["train", "lora", "--base", "x"]) == 2
    assert "'xtalgen lora train'" in capsys.readouterr().err
    assert main(["prescreen-validate"]) == 2
    assert "'xtalgen prescreen validate'" in capsys.readouterr().err


def test_errors_name_flags_not_config_keys(tmp_path: Path):
    """The setting knows both its names: a message gives the flag under the command, the key otherwise."""
    missing = tmp_path / "absent"
    with pytest.raises(DatasetUnavailableError) as under_workflow:
        resolve_split("train", local_dir=missing, url=None)
    with named_as_flags(), pytest.raises(DatasetUnavailableError) as under_command:
        resolve_split("train", local_dir=missing, url=None)
    assert "data.local_dir" in str(under_workflow.value) and "data.url" in str(under_workflow.value)
    assert "--dataset" in str(under_command.value) and "--url" in str(under_command.value)
    assert "data." not in str(under_command.value)
    with named_as_flags():
        assert setting_value("prescreen.aggregation", "destination") == "--aggregation destination"
        assert setting("hull.reference") == "hull.reference"  # no command sets it: the key everywhere
    assert setting_value("prescreen.aggregation", "destination") == "prescreen.aggregation: destination"
    with pytest.raises(KeyError, match="SETTINGS"):
        setting("prescreen.no_such_key")


def test_every_named_setting_flag_is_a_real_option():
    """A flag a message names is one some command takes, so the advice can be followed."""
    flags = {flag for parser in COMMANDS.values() for a in _options(parser) for flag in a.option_strings}
    for key, flag in SETTINGS.items():
        assert flag is None or flag in flags, f"{key}: {flag} is no option of any command"


def test_top_level_help_lists_the_registered_commands_with_their_help(capsys):
    """The listing is generated: every command appears once, with the help it was registered with."""
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out.split("the commands, stage by stage:")[1].split("options:")[0]
    named = [" ".join(line.split()[:2]) for line in listing.splitlines() if line.strip()]
    assert sorted(named) == sorted(COMMANDS)
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    verbs = next(a for a in commands.choices["dft"]._actions if isinstance(a, argparse._SubParsersAction))
    add_command(verbs, "audit", lambda args: 0, "a command registered after the fact")
    assert "  dft audit" in command_listing(commands)
    assert "a command registered after the fact" in command_listing(commands)


def test_a_project_error_is_one_line(tmp_path: Path, capsys, monkeypatch):
    def refuse(args):
        raise InputError(f"{args.out}: give another folder")

    monkeypatch.setattr(data_cli, "_run_data_prepare", refuse)
    assert main(["data", "prepare", "--dataset", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give another folder" in err and "Traceback" not in err


def test_a_bug_keeps_its_traceback(tmp_path: Path, monkeypatch):
    """A ValueError or RuntimeError from a bug, not from the project's own checks, is not hidden."""

    def broken(args):
        return {}["missing"]

    def wrong_value(args):
        raise ValueError("an internal invariant broke")

    for run, error in ((broken, KeyError), (wrong_value, ValueError)):
        monkeypatch.setattr(data_cli, "_run_data_prepare", run)
        with pytest.raises(error):
            main(["data", "prepare", "--dataset", str(tmp_path), "--out", str(tmp_path / "o")])


def test_data_prepare_writes_every_split(pilot_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    code = main(["data", "prepare", "--dataset", str(pilot_dir), "--out", str(out), "--max-rows", "40"])
    assert code == 0
    for split in ("train", "val", "test"):
        summary = json.loads((out / split / "summary.json").read_text())
        assert summary["structures"] == 40
    assert "train: 40 structures" in capsys.readouterr().out


def test_missing_dataset_folder_is_a_clear_error(tmp_path: Path, capsys):
    code = main(["data", "prepare", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "xtalgen: error:" in err and "--dataset" in err and "nope" in err
    assert "data.local_dir" not in err and "data.url" not in err


def test_no_network_is_a_clear_error(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("XTALGEN_OFFLINE", "1")
    code = main(["data", "prepare", "--url", "https://example.org/mp_20", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "--dataset" in err and "data.local_dir" not in err


def test_bad_checksum_option_names_the_form(tmp_path: Path, capsys):
    code = main(
        ["data", "prepare", "--url", "https://example.org", "--sha256", "abc", "--out", str(tmp_path)]
    )
    assert code == 2
    assert "SPLIT=HEX" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "xtalgen.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("xtalgen ")


@pytest.mark.parametrize("argv", [["data"], ["data", "prepare"], []])
def test_incomplete_commands_print_usage(argv: list[str], capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: xtalgen" in capsys.readouterr().err


def test_under_the_workflow_errors_name_config_keys(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("XTALGEN_ERROR_TERMS", "config")
    assert main(["data", "prepare", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "data.local_dir" in err and "--dataset" not in err.replace("(CLI: --dataset)", "")


def test_setting_flags_take_their_help_from_the_settings_fields():
    """A flag built from a settings field shows that field's sentence, so the two cannot drift."""
    from xtalgen.setting_fields import field_help  # noqa: PLC0415

    built = 0
    for command, parser in COMMANDS.items():
        for action in _options(parser):
            if not hasattr(action, "setting"):
                continue
            settings, name = action.setting
            text = field_help(settings, name)
            assert text, f"{command} {action.option_strings[0]}: {settings.__name__}.{name} has no help"
            assert text in action.help, f"{command} {action.option_strings[0]}"
            built += 1
    # Every training, sampling, prescreen, hull, DFT and evaluation flag with a config key.
    assert built >= 60, built

"""Each rule's conda env lists every third-party package its code imports, pinned as CI tests it.

Conda channels cannot be reached on the build machines, so the envs are checked statically here and
used on clusters with `snakemake --sdm conda`.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "xtalgen"
RULE = re.compile(r"^rule (\w+):\n((?:[ \t].*\n|\n)*)", re.MULTILINE)
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)$")


def _rules() -> list[tuple[str, str, str]]:
    """(rule, env file, what it runs: a script path or an `xtalgen <command>` line)."""
    found = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for name, body in RULE.findall(smk.read_text()):
            env = re.search(r'conda:\s*\n\s*"\.\./(envs/[\w.]+)"', body)
            script = re.search(r'script:\s*\n\s*"\.\./(scripts/[\w.]+)"', body)
            shell = re.search(r"(?:xtalgen|\{params\.launcher\}) ((?:\w+ ?){1,2})", body)
            assert env, f"rule {name} in {smk.name} has no conda: env"
            runs = script.group(1) if script else f"xtalgen {shell.group(1).strip()}" if shell else ""
            assert runs, f"rule {name} runs neither a script nor xtalgen"
            found.append((name, env.group(1), runs))
    return found


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@cache
def _module_imports(module: str) -> frozenset[str]:
    """Every module imported by an xtalgen module and, transitively, by the xtalgen modules it uses."""
    path = SRC / (module.removeprefix("xtalgen").lstrip(".").replace(".", "/") or "__init__")
    path = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
    return frozenset(_closure(_imports(ast.parse(path.read_text()))))


def _closure(names: set[str]) -> set[str]:
    out = set()
    for name in names:
        if name.split(".")[0] == "xtalgen":
            if name != "xtalgen" and name not in _visiting:
                _visiting.add(name)
                out |= _module_imports(name)
        else:
            out.add(name)
    return out


_visiting: set[str] = set()


def _cli_command_imports(command: str) -> set[str]:
    """Imports of the cli handler of `xtalgen <group> <action>` (e.g. _run_lora_train)."""
    words = command.split()[1:]
    handler = "_run_" + "_".join(words)
    for module in sorted((SRC / "cli").glob("*.py")):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == handler:
                body = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
                return _closure(_imports(node) | set().union(*(_imports(n) for n in body)))
    raise AssertionError(f"no handler {handler} in src/xtalgen/cli/ for `{command}`")


def _third_party(modules: set[str]) -> dict[str, set[str]]:
    """Top-level module -> the distributions that provide it (several for namespace packages)."""
    dists = packages_distributions()
    out = {}
    for module in modules:
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in {"xtalgen", "__future__", "snakemake"}:
            continue
        if top not in dists:
            continue  # an optional import (e.g. bitsandbytes on GPU nodes) not installed here
        out[top] = {d.lower().replace("_", "-") for d in dists[top]}
    return out


def _pins(env: str) -> dict[str, str]:
    spec = yaml.safe_load((REPO / env).read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = {}
    for item in pip:
        match = PIN.match(item)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


RULES = _rules()


def test_every_rule_has_an_env_and_runs_something():
    assert len(RULES) >= 20
    assert {env for _, env, _ in RULES} == {f"envs/{p.name}" for p in (REPO / "envs").glob("*.yaml")}


@pytest.mark.parametrize(("rule", "env", "runs"), RULES, ids=[r for r, _, _ in RULES])
def test_env_lists_what_the_rule_imports(rule, env, runs):
    if runs.startswith("scripts/"):
        modules = _closure(_imports(ast.parse((REPO / runs).read_text())))
    else:
        modules = _cli_command_imports(runs)
    pins = set(_pins(env))
    missing = sorted(m for m, dists in _third_party(modules).items() if not dists & pins)
    assert not missing, f"rule {rule} ({runs}) imports {missing}, which {env} does not pin"


@pytest.mark.parametrize("env", sorted(p.name for p in (REPO / "envs").glob("*.yaml")))
def test_env_pins_match_the_tested_versions(env):
    pins = _pins(f"envs/{env}")
    assert pins
    # Local version labels (torch's "+cpu") name the build, not the version.
    wrong = {n: (pin, version(n)) for n, pin in pins.items() if version(n).split("+")[0] != pin}
    assert not wrong, f"envs/{env}: pinned vs installed {wrong}"

"""The library's layout is the DAG: one package per stage, and imports that point one way only.

text <- dataset <- lm; dataset <- hull <- prescreen, dft, evaluate (none of these three imports
another); report reads what the stages write and imports only the hull. The shared top-level modules
import no stage, and no stage imports the CLI. The CLI and the test helpers (xtalgen.testing, which
build tokenizers and models for tests) sit on top and may import any stage. No two modules import
each other, however far round: a cycle fails even inside one package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "xtalgen"
STAGES = ("text", "dataset", "lm", "hull", "prescreen", "dft", "evaluate", "report")
SHARED = {
    "__init__",
    "errors",
    "io",
    "disk_full",
    "journal",
    "structures_io",
    "provenance",
    "config_check",
    "testing",
    "setting_fields",
}
# What each stage package may import, besides itself and the shared modules: a package, or one module.
ALLOWED = {
    "text": set(),
    "dataset": {"text"},
    "lm": {"text", "dataset"},
    "hull": {"text", "dataset"},
    "prescreen": {"text", "dataset", "hull"},
    "dft": {"text", "dataset", "hull"},
    "evaluate": {"text", "dataset", "hull"},
    "report": {"hull"},
    "shared": set(),
}


def _owner(path: Path) -> str:
    """The stage package a source file belongs to, 'shared' for a top-level module, or 'cli'."""
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else "shared"


def _xtalgen_imports(path: Path) -> set[str]:
    """Every xtalgen module ``path`` imports, at the top or inside functions, without the prefix."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.removeprefix("xtalgen.") for n in names if n.startswith("xtalgen.")}
    return found


def _violations(path: Path) -> list[str]:
    owner = _owner(path)
    if owner == "cli" or path.relative_to(SRC) == Path("testing.py"):
        return []
    allowed = ALLOWED[owner] | ({owner} if owner != "shared" else set()) | SHARED
    bad = []
    for name in sorted(_xtalgen_imports(path)):
        top = name.split(".")[0]
        if top not in STAGES and top != "cli":
            continue  # a shared module, or a name imported from one
        if top == owner or any(name == a or name.startswith(a + ".") for a in allowed):
            continue
        if any(a.startswith(name + ".") for a in allowed):
            continue  # "from xtalgen.prescreen import prefilter" names the package on the way
        bad.append(name)
    return bad


SOURCES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(SRC)) for p in SOURCES])
def test_imports_point_one_way(path: Path):
    bad = _violations(path)
    assert not bad, f"{path.relative_to(SRC)} ({_owner(path)}) imports {bad} against the layout"


def test_top_level_holds_only_shared_modules_and_stage_packages():
    modules = {p.stem for p in SRC.glob("*.py")}
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    assert modules == SHARED
    assert packages == {*STAGES, "cli"}


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_says_what_it_takes_and_gives(stage: str):
    doc = ast.get_docstring(ast.parse((SRC / stage / "__init__.py").read_text()))
    assert doc and "Takes" in doc and "give" in doc


def test_the_check_catches_an_upward_import(tmp_path: Path, monkeypatch):
    """A lower stage importing a higher one is reported, so the rules above can fail."""
    fake = tmp_path / "xtalgen"
    (fake / "text").mkdir(parents=True)
    bad = fake / "text" / "codec.py"
    bad.write_text("def f():\n    from xtalgen.lm.sampling import sample\n")
    ok = fake / "evaluate" / "validity.py"
    ok.parent.mkdir()
    ok.write_text("from xtalgen.hull.rates import stability_rates\nfrom xtalgen.io import x\n")
    upward = fake / "evaluate" / "metrics.py"
    upward.write_text("from xtalgen.prescreen.shard import rate\n")
    monkeypatch.setitem(globals(), "SRC", fake)
    assert _violations(bad) == ["lm.sampling", "lm.sampling.sample"]
    assert _violations(ok) == []
    assert _violations(upward) == ["prescreen.shard", "prescreen.shard.rate"]


def _module_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the xtalgen modules it imports (a name imported from a module counts as the module)."""
    paths = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    names = {
        p: ".".join(q for q in p.relative_to(root).with_suffix("").parts if q != "__init__") for p in paths
    }
    modules = set(names.values())
    graph: dict[str, set[str]] = {}
    for path, name in names.items():
        targets = set()
        for imported in _xtalgen_imports(path):
            module = imported
            while module and module not in modules:
                module = module.rpartition(".")[0]
            if module and module != name and not name.startswith(module + "."):
                targets.add(module)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_cycle():
    """Lazy imports inside functions count too: a cycle hidden in a function still ties two modules."""
    assert _cycles(_module_graph(SRC)) == []


def test_the_cycle_check_catches_a_cycle_inside_a_package(tmp_path: Path):
    lm = tmp_path / "xtalgen" / "lm"
    lm.mkdir(parents=True)
    (lm / "__init__.py").write_text("")
    (lm / "sampling.py").write_text("def f():\n    from xtalgen.lm.infill import swap_table\n")
    (lm / "infill.py").write_text("from xtalgen.lm.sampling import f\n")
    (lm / "codec.py").write_text("from xtalgen.lm import sampling\n")
    assert _cycles(_module_graph(tmp_path / "xtalgen")) == [["lm.infill", "lm.sampling"]]

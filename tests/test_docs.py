"""The manual builds with warnings as errors, its references are generated, and the README stays short."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xtalgen.cli import build_parser
from xtalgen.cli.options import command_listing

REPO = Path(__file__).resolve().parents[1]


def _keys(properties: dict, prefix: str = "") -> list[str]:
    keys = []
    for name, spec in properties.items():
        keys.append(prefix + name)
        if spec.get("type") == "object" and "properties" in spec:
            keys += _keys(spec["properties"], f"{prefix}{name}.")
    return keys


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The manual built from a copy of docs/, so the build leaves the checkout as it was."""
    pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")
    work = tmp_path_factory.mktemp("docs")
    shutil.copytree(REPO / "docs", work / "docs", ignore=shutil.ignore_patterns("_build", "reference"))
    for name in ("config.schema.yaml", "config.yaml"):
        shutil.copy(REPO / name, work / name)
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", "docs/_build"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return work / "docs"


def test_the_manual_builds_with_warnings_as_errors(site):
    assert (site / "_build" / "index.html").is_file()
    for page in ("guide/prescreen", "reference/configuration", "reference/cli", "troubleshooting"):
        assert (site / "_build" / f"{page}.html").is_file()


def test_the_configuration_reference_lists_every_schema_key(site):
    schema = yaml.safe_load((REPO / "config.schema.yaml").read_text())
    page = (site / "reference" / "configuration.md").read_text()
    for key in _keys(schema["properties"]):
        assert f"| `{key}` |" in page or f"## `{key}`" in page, key


def test_the_cli_reference_holds_every_command(site):
    page = (site / "reference" / "cli.md").read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for line in command_listing(commands).splitlines():
        assert f"## `xtalgen {' '.join(line.split()[:2])}`" in page


def test_a_broken_reference_fails_the_build(tmp_path):
    pytest.importorskip("sphinx")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "conf.py").write_text('extensions = ["myst_parser"]\n')
    (docs / "index.md").write_text("# Home\n\nSee [the missing page](missing.md).\n")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(docs), str(docs / "_build")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "missing" in done.stderr


def test_the_readme_fits_on_a_screen_and_keeps_its_three_commands():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for marker in ("<!-- install -->", "<!-- run -->", "<!-- test -->"):
        assert marker in text

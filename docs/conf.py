"""Sphinx configuration of the xtalgen manual (MyST Markdown pages, generated references)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "xtalgen"
author = "the xtalgen developers"
copyright = "2026, the xtalgen developers"

extensions = ["myst_parser", "xtalgen_reference"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3
html_theme = "furo"
html_title = "xtalgen"
# Generated at build time from config.schema.yaml, config.yaml and the xtalgen parser.
xtalgen_reference_out = "reference"

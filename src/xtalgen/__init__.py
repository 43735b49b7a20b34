"""xtalgen: fine-tuned language models that generate inorganic crystals as text, verified by DFT."""

from __future__ import annotations

__version__ = "0.1.0"

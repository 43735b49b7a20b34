"""Crystals as text: the paper's crystal-string codec and its three prompt tasks.

Takes pymatgen structures; gives crystal strings (``codec``) and the unconditional, conditional and
infill prompts the model is trained and sampled with (``prompts``). Imports no other stage.
"""

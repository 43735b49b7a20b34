"""The shared science of stability: reference hulls, MP-compatible energies and the rates.

Takes a hull's sources (the dataset's own phases with MP's elemental references, an entries file or
URL, or the Materials Project API through ``mp_api``); gives the saved reference hull, its coverage of a
chemical system and E_hull (``reference``), MP2020-corrected entries of a potential's or DFT's energies
(``energies``), the flags that mark an E_hull as no distance to the hull (``flags``) and the one
definition of the stability rates (``rates``). The prescreen, DFT collection and the evaluation all
import it; it imports no stage.
"""

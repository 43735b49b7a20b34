"""DFT verification with atomate2: flows, their inputs, submission and collection.

Takes the prescreen's metastable candidates; gives atomate2 flows (``flows``) written with their VASP
inputs (``prepare``), run locally or queued on FireWorks once each (``submit``, tracked in ``state``),
and MP2020-corrected E_hull^DFT of the finished ones (``collect``). ``stage`` holds the file-level
entry points. Uses the hull package's energies and hull; imports no lm, prescreen or evaluate.
"""

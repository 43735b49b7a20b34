"""atomate2's fake VASP (a test double for VASP, which cannot run here) inside a Snakemake DFT job.

The DFT workflow test puts this folder on PYTHONPATH. Python imports ``sitecustomize`` at start-up,
and only the process that runs the ``dft_submit`` rule's script is patched: with the ``local`` backend,
atomate2's Si MP GGA jobs there check INCAR, KPOINTS and POTCAR against atomate2's reference inputs
and copy its reference outputs instead of running VASP. The POSCAR is not compared: the test hands in
Si cells that M3GNet relaxed from other starting points. Snakemake, jobflow, atomate2 and the job store
are real.
"""

import sys

if any("dft_submit" in arg for arg in sys.argv):
    from xtalgen.testing import SI_MP_GGA_REF_PATHS, fake_vasp

    _CHECKS = {"check_inputs": ("incar", "kpoints", "potcar")}
    _FAKE_VASP = fake_vasp(SI_MP_GGA_REF_PATHS, dict.fromkeys(SI_MP_GGA_REF_PATHS, _CHECKS))
    _FAKE_VASP.__enter__()

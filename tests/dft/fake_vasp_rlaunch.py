"""FireWorks' own ``rlaunch`` with atomate2's fake VASP: a test double for VASP, which cannot run here.

Usage: python fake_vasp_rlaunch.py <rlaunch arguments>. Every atomate2 job of the Si MP GGA flow
copies atomate2's reference outputs instead of running VASP; everything else is real FireWorks.
"""

import sys

from fireworks.scripts.rlaunch_run import rlaunch

from xtalgen.testing import SI_MP_GGA_REF_PATHS, fake_vasp

if __name__ == "__main__":
    with fake_vasp(SI_MP_GGA_REF_PATHS):
        sys.argv = ["rlaunch", *sys.argv[1:]]
        rlaunch()

"""Active learning and verification: where the models are trusted, and how to grow the DFT set where they are not.

* :mod:`.cutouts`: periodic cells small enough for DFT, cut from large supercells with their local environments;
* :mod:`.verify`: the models' errors on DFT-labelled cut-outs next to their held-out errors, and the verdict;
* :mod:`.select`: the most uncertain, mutually diverse frames of an exploration (what a generation labels).

Pure numpy/ase: the AiiDA processes (``flexo.verify``, ``flexo.active``) call these.
"""

from aiida_flexo.active.cutouts import CutoutError, cut_block, flexo_cutouts, grid_cutouts
from aiida_flexo.active.select import select_diverse
from aiida_flexo.active.verify import VERIFY_METRICS, verification_summary

__all__ = [
    'VERIFY_METRICS',
    'CutoutError',
    'cut_block',
    'flexo_cutouts',
    'grid_cutouts',
    'select_diverse',
    'verification_summary',
]

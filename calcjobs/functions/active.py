"""Calcfunctions of ``flexo.active``: grow the frame set by one generation, record what a generation did."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_flexo.nodes.frames import FramesData


@calcfunction
def add_generation(frames: FramesData, new: FramesData, generation: orm.Int) -> FramesData:
    """``frames`` followed by the DFT-labelled ``new`` frames, each new one tagged ``active_generation`` = g.

    The frames of earlier generations keep their tags, so that the frames added in generation g (and, in their
    ``force_std_max_meV_A`` / ``dipole_std_eA``, why) can be read from any later frame set.
    """
    added = []
    for atoms in new.get_frames():
        atoms.info['active_generation'] = int(generation.value)
        added.append(atoms)
    return FramesData.from_frames(
        frames.get_frames() + added,
        source=f'active learning: {frames.n_frames} + {len(added)} (generation {generation.value})',
    )


@calcfunction
def generation_summary(generation: orm.Int, scores: orm.Dict, **records: orm.Dict) -> orm.Dict:
    """What generation g did: deviations on the explored set, frames added, DFT time, errors on the new frames
    before retraining (``records``: ``before_mlip``/``before_gnn`` eval metrics, ``dft`` with ``seconds``)."""
    s = scores.get_dict()
    summary = {
        'generation': int(generation.value),
        'n_explored': s['n_frames'],
        'n_candidates': s['n_candidates'],
        'n_above_ceiling': s['n_above_ceiling'],
        'n_added': len(s['selected']),
        'force_std_max_meV_A': s['force_std_max'],
        'force_std_mean_meV_A': s['force_std_mean'],
        'dipole_std_max_eA': s.get('dipole_std_max'),
        'dipole_std_mean_eA': s.get('dipole_std_mean'),
        'converged': s['converged'],
    }
    if 'dft' in records:
        summary.update(records['dft'].get_dict())
    for key, name in (('before_mlip', 'force_mae_meV_A'), ('before_gnn', 'dipole_mae_eA')):
        if key in records:
            summary[f'new_frames_{name}'] = records[key].get_dict().get(name)
    return orm.Dict(summary)
